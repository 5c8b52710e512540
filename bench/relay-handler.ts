#!/usr/bin/env node
// The relay handler the benchmark uses: reply `sendClients [data.to]` with the data passed through
// unparsed where possible. The original's way (one request per connection; several one after another
// are answered in order too), or multiplex/1 (docs/protocol.md §4.5) when BESTER_HANDLER_PROTOCOLS
// offers it or with --multiplex: greet on each connection; once the daemon sends the greeting back,
// requests {"id","input"} are answered {"id","reply"}.
//   node bench/relay-handler.ts [--multiplex] SOCKET_PATH
import { unlinkSync } from 'node:fs';
import net from 'node:net';
import { encodeJsonFrame, FrameDecoder } from '../src/protocol/frame.ts';
import { MULTIPLEX_GREETING_JSON, offersMultiplex } from '../src/protocol/handler-multiplex.ts';

const args = process.argv.slice(2);
const multiplex = args.includes('--multiplex') || offersMultiplex(process.env.BESTER_HANDLER_PROTOCOLS);
const socketPath = process.env.BESTER_HANDLER_SOCKET ?? args.find((arg) => arg !== '--multiplex');
if (!socketPath) throw new Error('usage: relay-handler.ts [--multiplex] SOCKET_PATH');
try {
  unlinkSync(socketPath);
} catch {
  // not there
}

function reply(text: string): string {
  const to = (JSON.parse(text) as { to: string }).to;
  return `{"header":{"status":"0","command":{"type":"sendClients","data":[${JSON.stringify(to)}]}},"data":${text}}`;
}

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  let state: 'greeted' | 'multiplex' | 'original' = multiplex ? 'greeted' : 'original';
  if (multiplex) socket.write(encodeJsonFrame(MULTIPLEX_GREETING_JSON));
  const decoder = new FrameDecoder(
    {
      frame(body) {
        const text = body.toString('utf8');
        if (state === 'greeted') {
          state = text === MULTIPLEX_GREETING_JSON ? 'multiplex' : 'original';
          if (state === 'multiplex') return;
        }
        if (state === 'original') {
          socket.write(encodeJsonFrame(reply(text)));
          return;
        }
        const { id, input } = JSON.parse(text) as { id: number; input: unknown };
        socket.write(encodeJsonFrame(`{"id":${id},"reply":${reply(JSON.stringify(input))}}`));
      },
      error: () => socket.destroy(),
    },
    16 * 1024 * 1024,
  );
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
});
server.listen(socketPath, () => process.stdout.write(`listening ${socketPath} (${multiplex ? 'multiplex/1' : 'original'})\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
