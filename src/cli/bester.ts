// The `bester` command (bin/bester.js imports this). All the work is in bester-main.ts, which tests import.
import { main } from './bester-main.ts';

process.exitCode = await main(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
