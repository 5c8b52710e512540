#!/usr/bin/env node
// Asks a running server's informer who is online and what it runs (docs/protocol.md §9).
//   node examples/sdk/who-is-online.ts [INFORMER_SOCKET]     (see docs/sdk.md)
// The socket defaults to BESTER_INFORMER_SOCKET (set for handlers the daemon starts), then to the
// example server's: examples/run/informer.sock.
import { connectInformer } from 'bester/informer';

const informer = await connectInformer(process.argv[2] ?? process.env.BESTER_INFORMER_SOCKET ?? 'examples/run/informer.sock');
try {
  const online = await informer.listClients();
  const info = await informer.serverInfo();
  console.log(`bester ${info.version ?? '(version unknown)'}: ${info.clientCount} connections`);
  console.log(`online: ${online.length > 0 ? online.join(', ') : 'nobody'}`);
  for (const handler of info.handlers ?? []) console.log(`handler ${handler.type}: ${handler.state}`);
} finally {
  await informer.close();
}
