#!/usr/bin/env node
// The NATS side of the benchmark's comparison: a relay service doing the same job as the
// relay handler + daemon routing. For each message on "relay" it publishes the data, unchanged,
// to "deliver.<to>" (the recipient's delivery) and answers on the message's reply subject (the
// sender's status report). Lean like the generator (bench/nats-wire.ts): `to` is found by a
// byte search, the answer is encoded once.
//   node bench/nats-relay.ts PORT
import { NatsWire } from './nats-wire.ts';

const port = Number(process.argv[2]);
const TO_KEY = Buffer.from('"to":"');
const QUOTE = 0x22;
const GOOD = Buffer.from('{"status":"good"}');

function recipient(data: Buffer): string | null {
  const start = data.indexOf(TO_KEY);
  if (start < 0) return null;
  const end = data.indexOf(QUOTE, start + TO_KEY.length);
  return end < 0 ? null : data.toString('latin1', start + TO_KEY.length, end);
}

const wire = await NatsWire.connect(port);
wire.socket.on('close', () => process.exit(0));
wire.subscribe('relay', (_subject, reply, payload) => {
  const to = recipient(payload);
  if (to !== null) wire.publish(`deliver.${to}`, '', payload);
  if (reply !== '') wire.publish(reply, '', GOOD);
});
await wire.flush();
process.stdout.write('listening\n');
process.on('SIGTERM', () => process.exit(0));
