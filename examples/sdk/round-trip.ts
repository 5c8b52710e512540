#!/usr/bin/env node
// Sends a message to yourself through the echo handler and waits for it to come back, with
// events instead of an iterator, and `throwOnBad` to make a "bad" report an exception.
//   node examples/sdk/round-trip.ts              (as alice; see docs/sdk.md)
import { once } from 'node:events';
import { connect, type Delivery } from 'bester/client';

const client = await connect({
  server: process.env.BESTER_SERVER ?? '127.0.0.1:2220',
  username: process.env.BESTER_USER ?? 'alice',
  password: process.env.BESTER_PASSWORD ?? 'demo',
  timeoutMs: 5000,
});
try {
  const started = performance.now();
  const echoed = once(client, 'delivery') as Promise<[Delivery]>; // listen before sending
  const report = await client.send('echo', { to: client.username, sentAt: Date.now() }, { throwOnBad: true, timeoutMs: 5000 });
  const [delivery] = await echoed;
  console.log(`message ${report.id}: ${report.status}; "${delivery.type}" back after ${Math.round(performance.now() - started)} ms`);
} finally {
  await client.close();
}
