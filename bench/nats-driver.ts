// A generator's pairs on NATS: raw publishes on "relay" with a reply subject ack.s<i>.<n> and one
// wildcard subscription ack.s<i>.> per sender connection (no promise per request); a receiver
// subscribes deliver.r<i>. On the wire directly (bench/nats-wire.ts), with payloads copied from
// a pre-encoded template, like bench/frame-driver.ts.
import type { GeneratorConfig, GeneratorState, PairDriver } from './generator-state.ts';
import { dataText, MessageTemplate, nowUs, readTimestampUs } from './message-template.ts';
import { NatsWire } from './nats-wire.ts';

export async function openNatsPairs(cfg: GeneratorConfig, st: GeneratorState): Promise<PairDriver> {
  const conns: NatsWire[] = [];
  const senders: Array<{ wire: NatsWire; send: () => void }> = [];
  for (let i = cfg.from; i < cfg.to; i++) {
    const receiver = await NatsWire.connect(cfg.port);
    conns.push(receiver);
    receiver.subscribe(`deliver.r${i}`, (_subject, _reply, payload) => {
      const t = readTimestampUs(payload);
      if (t < 0) return;
      st.delivered++;
      st.latencies.record(nowUs() - t);
    });
    await receiver.flush();
    const sender = await NatsWire.connect(cfg.port);
    conns.push(sender);
    const template = new MessageTemplate(dataText(`r${i}`, cfg.size), false);
    const ackPrefix = `ack.s${i}.`;
    let seq = 0;
    const send = (): void => {
      st.sent++;
      seq++;
      sender.publish('relay', ackPrefix + seq, template.make(seq, nowUs()));
    };
    sender.subscribe(`${ackPrefix}>`, () => {
      st.acknowledged++;
      if (st.sending) send();
    });
    await sender.flush();
    senders.push({ wire: sender, send });
  }
  return {
    start() {
      for (const { wire, send } of senders) {
        wire.socket.cork();
        for (let w = 0; w < cfg.window; w++) send();
        wire.socket.uncork();
      }
    },
    async close() {
      for (const wire of conns) wire.close();
      await Promise.resolve();
    },
  };
}
