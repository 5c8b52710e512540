// The minimal relay's handler call made the original way: a new connection, one frame, one reply,
// close. bench/baseline-relay.ts relays with it; bench/original-call.ts measures it alone against
// the daemon's, so that both measure the same code.
import net from 'node:net';
import { encodeJsonFrame, FrameDecoder } from '../src/protocol/frame.ts';

/** Sends `data` (JSON text) to the handler at `socketPath`; `done` gets its reply's text, `failed` an error of the connection or the frame. */
export function callOnce(socketPath: string, data: string, done: (text: string) => void, failed: (error: Error) => void = () => undefined): void {
  const s = net.connect(socketPath);
  s.on('error', (error) => {
    s.destroy();
    failed(error);
  });
  const d = new FrameDecoder(
    {
      frame: (b) => {
        done(b.toString('utf8'));
        s.destroy();
      },
      error: (error) => {
        s.destroy();
        failed(error);
      },
    },
    1 << 26,
  );
  s.on('data', (c: Buffer) => d.push(c));
  s.write(encodeJsonFrame(data));
}
