// `npm start`: runs the daemon on examples/server.conf with two demo users (alice and bob,
// password "demo") in the embedded SQLite store, and prints how to talk to it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDaemon, superviseProcess } from '../src/cli/besterd-main.ts';
import { openAccountStore } from '../src/server/accounts/account-store.ts';
import { loadConfig } from '../src/server/config/load.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const configPath = path.join(here, 'server.conf');
const { config } = await loadConfig(configPath);
const store = await openAccountStore(config.accounts);
for (const user of ['alice', 'bob']) {
  if (!(await store.has(user))) await store.add(user, 'demo');
}
await store.close();

const result = await runDaemon([configPath], { stdout: process.stdout, stderr: process.stderr });
if (typeof result === 'number') {
  process.exitCode = result;
} else {
  superviseProcess(result);
  const tcp = result.server.listeners.find((l) => l.kind === 'tcp4');
  const address = `127.0.0.1:${tcp?.port ?? 2220}`;
  const ws = result.server.listeners.find((l) => l.kind === 'ws');
  const page = ws === undefined ? null : `http://127.0.0.1:${ws.port}/`;
  process.stderr.write(`
Bester is running: ${result.server.listeners.map((l) => l.address).join(', ')}
${page === null ? '' : `Web chat (examples/web/): open ${page} in a browser and log in as alice or bob, password "demo".\n`}Demo users: alice and bob, password "demo". Handlers (examples/handlers/): ${[...config.handlers.keys()].join(', ')}.
In two other terminals (each asks for the password, "demo"; README.md "Examples" has more to try):
  npx bester listen --server ${address} --user bob                                # bob waits
  npx bester send --server ${address} --user alice echo '{"to":"bob","text":"hello"}'   # alice writes to bob
Any client that speaks the Bester protocol can connect to port ${tcp?.port ?? '?'} (docs/protocol.md).
Stop with Ctrl-C. Logs below are JSON lines.

`);
}
