// Process entry of the daemon: `besterd CONFIG`. All logic is in besterd-main.ts.
import { runDaemon, superviseProcess } from './besterd-main.ts';
import { applyDaemonV8Flags } from './daemon-node-flags.ts';

// Before any of the daemon's code runs hot enough to be optimised (daemon-node-flags.ts).
applyDaemonV8Flags();

const result = await runDaemon(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
if (typeof result === 'number') process.exitCode = result;
else superviseProcess(result);
