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

const TO_KEY = '"to":"';

/** `data.to`, found by a search (the bench's data starts with it) rather than a parse. */
function recipient(text: string): string {
  const start = text.indexOf(TO_KEY);
  const end = start < 0 ? -1 : text.indexOf('"', start + TO_KEY.length);
  return end < 0 ? (JSON.parse(text) as { to: string }).to : text.slice(start + TO_KEY.length, end);
}

function reply(text: string): string {
  return `{"header":{"status":"0","command":{"type":"sendClients","data":[${JSON.stringify(recipient(text))}]}},"data":${text}}`;
}

const INPUT_KEY = ',"input":';

/** A multiplex/1 request, `{"id":n,"input":...}` as the daemon writes it (§4.5.2), cut rather than parsed. */
function readRequest(text: string): { id: string; input: string } {
  const at = text.indexOf(INPUT_KEY);
  if (text.startsWith('{"id":') && at > 0) return { id: text.slice(6, at), input: text.slice(at + INPUT_KEY.length, -1) };
  const { id, input } = JSON.parse(text) as { id: number; input: unknown };
  return { id: String(id), input: JSON.stringify(input) };
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
        const { id, input } = readRequest(text);
        socket.write(encodeJsonFrame(`{"id":${id},"reply":${reply(input)}}`));
      },
      error: () => socket.destroy(),
    },
    16 * 1024 * 1024,
  );
  socket.on('data', (chunk: Buffer) => {
    // The replies to the requests of one chunk leave in one write (multiplex/1 carries many).
    socket.cork();
    decoder.push(chunk);
    socket.uncork();
  });
});
server.listen(socketPath, () => process.stdout.write(`listening ${socketPath} (${multiplex ? 'multiplex/1' : 'original'})\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
