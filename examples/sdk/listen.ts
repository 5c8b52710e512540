#!/usr/bin/env node
// Prints what a user receives, one line each, until Ctrl-C (or COUNT deliveries); reconnects
// when the connection drops, e.g. while the server restarts.
//   node examples/sdk/listen.ts [COUNT]          (as bob; see docs/sdk.md)
import { connect } from 'bester/client';

const count = Number(process.argv[2] ?? Infinity);

const client = await connect({
  server: process.env.BESTER_SERVER ?? '127.0.0.1:2220',
  username: process.env.BESTER_USER ?? 'bob',
  password: process.env.BESTER_PASSWORD ?? 'demo',
  reconnect: { initialDelayMs: 200, maxDelayMs: 5000 },
});
client.on('disconnect', (err) => console.error(`disconnected (${err.message}); reconnecting`));
client.on('reconnect', () => console.error('reconnected'));
process.once('SIGINT', () => void client.close());
console.error(`listening as ${client.username}`);

// The loop ends when the client is closed (Ctrl-C) or gives up reconnecting.
let seen = 0;
for await (const { type, data } of client.deliveries()) {
  console.log(`${type}: ${JSON.stringify(data)}`);
  if (++seen >= count) break;
}
await client.close();
