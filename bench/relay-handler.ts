#!/usr/bin/env node
// The relay handler the benchmark uses, in the original's way: one request per connection,
// reply `sendClients [data.to]` with the data passed through unparsed where possible.
//   node bench/relay-handler.ts SOCKET_PATH
import { unlinkSync } from 'node:fs';
import net from 'node:net';
import { encodeJsonFrame, FrameDecoder } from '../src/protocol/frame.ts';

const socketPath = process.argv[2] ?? process.env.BESTER_HANDLER_SOCKET;
if (!socketPath) throw new Error('usage: relay-handler.ts SOCKET_PATH');
try {
  unlinkSync(socketPath);
} catch {
  // not there
}

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  const decoder = new FrameDecoder(
    {
      frame(body) {
        const text = body.toString('utf8');
        const to = (JSON.parse(text) as { to: string }).to;
        // Many requests per connection are answered too (the persistent mode reuses connections).
        socket.write(encodeJsonFrame(`{"header":{"status":"0","command":{"type":"sendClients","data":[${JSON.stringify(to)}]}},"data":${text}}`));
      },
      error: () => socket.destroy(),
    },
    16 * 1024 * 1024,
  );
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
});
server.listen(socketPath, () => process.stdout.write(`listening ${socketPath}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
