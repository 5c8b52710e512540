#!/usr/bin/env node
// The least code doing the daemon's hops, for the benchmark's baseline (issue: performance):
// client frame in -> payload.data to the relay handler -> its reply -> delivery to the named
// recipient + status report to the sender. No validation, no logs, no limits, no auth check.
//   node bench/baseline-relay.ts HANDLER_SOCKET original|persistent [CONNECTIONS]
// Prints "listening PORT". Messages of one connection may be in flight together.
import net from 'node:net';
import { encodeJsonFrame, FrameDecoder } from '../src/protocol/frame.ts';
import { callOnce } from './relay-call.ts';

const [handlerSocket, mode = 'original', connectionsArg = '2'] = process.argv.slice(2);
/** Pooled handler connections in persistent mode: bester keeps 2 per handler by default (handlers.typeMap.T.connections). */
const connections = Math.max(1, Number(connectionsArg));
if (!handlerSocket) throw new Error('usage: baseline-relay.ts HANDLER_SOCKET original|persistent [CONNECTIONS]');

const users = new Map<string, net.Socket>();

type Reply = (text: string) => void;

/**
 * Frames written during one turn of the event loop leave in one write, as besterd does
 * (src/framing/frame-connection.ts): corked at the first, uncorked in a setImmediate. Without
 * it the relay pays a syscall per frame and is not measured at its capacity.
 */
const corked = new Set<net.Socket>();
function uncorkAll(): void {
  for (const socket of corked) socket.uncork();
  corked.clear();
}
function send(socket: net.Socket, frame: Buffer): void {
  if (!corked.has(socket)) {
    if (corked.size === 0) setImmediate(uncorkAll);
    corked.add(socket);
    socket.cork();
  }
  socket.write(frame);
}

/** Original mode: a new connection per call (bench/relay-call.ts). */
function callNew(data: string, done: Reply): void {
  callOnce(handlerSocket!, data, done);
}

/** Persistent mode: one connection per pool slot, replies in order. */
const pool: Array<{ socket: net.Socket; waiting: Reply[] }> = [];
function callPooled(data: string, done: Reply): void {
  if (pool.length < connections) {
    const socket = net.connect(handlerSocket!);
    const slot = { socket, waiting: [] as Reply[] };
    const d = new FrameDecoder({ frame: (b) => slot.waiting.shift()?.(b.toString('utf8')), error: () => socket.destroy() }, 1 << 26);
    socket.on('data', (c: Buffer) => d.push(c));
    socket.on('error', () => undefined);
    pool.push(slot);
  }
  const slot = pool.reduce((a, b) => (a.waiting.length <= b.waiting.length ? a : b));
  slot.waiting.push(done);
  send(slot.socket, encodeJsonFrame(data));
}

const call = mode === 'persistent' ? callPooled : callNew;

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  let user: string | null = null;
  const decoder = new FrameDecoder(
    {
      frame(body) {
        const msg = JSON.parse(body.toString('utf8')) as { header: { authentication?: { username: string } }; payload: { id: string; type: string; data: unknown } };
        if (user === null) {
          user = msg.header.authentication?.username ?? '';
          users.set(user, socket);
          send(socket, encodeJsonFrame('{"header":{"status":"good","messageType":"statusReport"},"payload":{"id":"auth_special"}}'));
          return;
        }
        const { id, type, data } = msg.payload;
        call(JSON.stringify(data), (replyText) => {
          const reply = JSON.parse(replyText) as { header: { command: { data: string[] } }; data: unknown };
          const frame = encodeJsonFrame(`{"header":{"messageType":"receivedMessage"},"payload":{"data":${JSON.stringify(reply.data)},"type":${JSON.stringify(type)}}}`);
          for (const name of reply.header.command.data) {
            const to = users.get(name);
            if (to) send(to, frame);
          }
          send(socket, encodeJsonFrame(`{"header":{"status":"good","messageType":"statusReport"},"payload":{"id":${JSON.stringify(id)}}}`));
        });
      },
      error: () => socket.destroy(),
    },
    1 << 26,
  );
  socket.on('data', (c: Buffer) => decoder.push(c));
  socket.on('close', () => {
    if (user !== null && users.get(user) === socket) users.delete(user);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`));
process.on('SIGTERM', () => process.exit(0));
