#!/usr/bin/env node
// The NATS side of the benchmark's comparison: a relay service doing the same job as the
// relay handler + daemon routing. It answers each request on "relay" (the sender's "status
// report") after publishing the data to "deliver.<to>" (the recipient's "delivery").
//   node bench/nats-relay.ts PORT
import { connect } from '@nats-io/transport-node';

const port = Number(process.argv[2]);
const nc = await connect({ servers: `127.0.0.1:${port}` });
nc.subscribe('relay', {
  callback: (err, msg) => {
    if (err) return;
    const text = msg.string();
    const to = (JSON.parse(text) as { to: string }).to;
    nc.publish(`deliver.${to}`, text);
    msg.respond('{"status":"good"}');
  },
});
await nc.flush();
process.stdout.write('listening\n');
process.on('SIGTERM', () => {
  void nc.close().then(() => process.exit(0));
});
