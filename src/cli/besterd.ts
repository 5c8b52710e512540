// Process entry of the daemon: `besterd CONFIG`. All logic is in besterd-main.ts.
import { runDaemon, superviseProcess } from './besterd-main.ts';

const result = await runDaemon(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
if (typeof result === 'number') process.exitCode = result;
else superviseProcess(result);
