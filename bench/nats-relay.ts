#!/usr/bin/env node
// The NATS side of the benchmark's comparison: a relay service doing the same job as the
// relay handler + daemon routing. For each message on "relay" it publishes the data, unchanged,
// to "deliver.<to>" (the recipient's delivery) and answers on the message's reply subject (the
// sender's status report). Lean like the generator: `to` is found by a byte search, the answer
// is encoded once.
//   node bench/nats-relay.ts PORT
import { connect } from '@nats-io/transport-node';

const port = Number(process.argv[2]);
const TO_KEY = Buffer.from('"to":"');
const QUOTE = 0x22;
const GOOD = new TextEncoder().encode('{"status":"good"}');
/** deliver.<to> for each recipient seen, so a message costs no string building. */
const subjects = new Map<string, string>();

function recipient(data: Uint8Array): string | null {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const start = bytes.indexOf(TO_KEY);
  if (start < 0) return null;
  const end = bytes.indexOf(QUOTE, start + TO_KEY.length);
  return end < 0 ? null : bytes.toString('latin1', start + TO_KEY.length, end);
}

const nc = await connect({ servers: `127.0.0.1:${port}` });
nc.subscribe('relay', {
  callback: (err, msg) => {
    if (err) return;
    const to = recipient(msg.data);
    if (to !== null) {
      let subject = subjects.get(to);
      if (subject === undefined) subjects.set(to, (subject = `deliver.${to}`));
      nc.publish(subject, msg.data);
    }
    msg.respond(GOOD);
  },
});
await nc.flush();
process.stdout.write('listening\n');
process.on('SIGTERM', () => {
  void nc.close().then(() => process.exit(0));
});
