// A generator's pairs on NATS: raw publishes on "relay" with a reply subject ack.s<i>.<n> and one
// wildcard subscription ack.s<i>.> per sender connection (no promise per request); a receiver
// subscribes deliver.r<i>. Payloads are copies of a pre-encoded template, like bench/frame-driver.ts.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { GeneratorConfig, GeneratorState, PairDriver } from './generator-state.ts';
import { dataText, MessageTemplate, nowUs, readTimestampUs } from './message-template.ts';

export async function openNatsPairs(cfg: GeneratorConfig, st: GeneratorState): Promise<PairDriver> {
  const conns: NatsConnection[] = [];
  const senders: Array<() => void> = [];
  const servers = `127.0.0.1:${cfg.port}`;
  for (let i = cfg.from; i < cfg.to; i++) {
    const receiver = await connect({ servers });
    conns.push(receiver);
    receiver.subscribe(`deliver.r${i}`, {
      callback: (err, msg) => {
        if (err) return;
        const t = readTimestampUs(msg.data);
        if (t < 0) return;
        st.delivered++;
        st.latencies.record(nowUs() - t);
      },
    });
    await receiver.flush();
    const sender = await connect({ servers });
    conns.push(sender);
    const template = new MessageTemplate(dataText(`r${i}`, cfg.size), false);
    const ackPrefix = `ack.s${i}.`;
    let seq = 0;
    const send = (): void => {
      st.sent++;
      seq++;
      sender.publish('relay', template.make(seq, nowUs()), { reply: ackPrefix + seq });
    };
    sender.subscribe(`${ackPrefix}>`, {
      callback: (err) => {
        if (err) return;
        st.acknowledged++;
        if (st.sending) send();
      },
    });
    await sender.flush();
    senders.push(send);
  }
  return {
    start() {
      for (const send of senders) for (let w = 0; w < cfg.window; w++) send();
    },
    async close() {
      await Promise.all(conns.map((nc) => nc.close().catch(() => undefined)));
    },
  };
}
