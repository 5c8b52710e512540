// A tiny client for the demo (the full client SDK and `bester` command come later):
//   demo-client.ts listen USER            print what USER receives, one JSON line each
//   demo-client.ts chat FROM TO TEXT      FROM sends TEXT to TO through the chat handler
// Connects to 127.0.0.1:2220 (examples/server.conf); the demo password is "demo".
import net from 'node:net';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../src/protocol/frame.ts';

const [command, user, to, text] = process.argv.slice(2);
if (!user || (command !== 'listen' && command !== 'chat') || (command === 'chat' && (!to || text === undefined))) {
  console.error('usage: demo-client.ts listen USER | chat FROM TO TEXT');
  process.exit(2);
}

const socket = net.connect({ host: '127.0.0.1', port: Number(process.env.BESTER_PORT ?? 2220) });
socket.on('error', (err) => {
  console.error(`demo-client: ${err.message}`);
  process.exitCode = 1;
});
const decoder = new FrameDecoder(
  {
    frame: (body) => onFrame(parseFrameJson(body) as { header?: Record<string, unknown>; payload?: Record<string, unknown> }),
    error: (err) => {
      console.error(`demo-client: ${err.message}`);
      socket.destroy();
    },
  },
  16 * 1024 * 1024,
);
socket.on('data', (chunk: Buffer) => decoder.push(chunk));
socket.on('connect', () => {
  socket.write(encodeFrame({ header: { scope: 'client', authentication: { username: user, password: 'demo' } }, payload: { type: 'login', id: 'login', data: null } }));
});

function onFrame(frame: { header?: Record<string, unknown>; payload?: Record<string, unknown> }): void {
  const header = frame.header ?? {};
  if (frame.payload?.id === 'auth_special') {
    if (header.status !== 'good') {
      console.error(`demo-client: login refused: ${String(header.reason)}`);
      socket.destroy();
      process.exitCode = 1;
      return;
    }
    if (command === 'listen') console.error(`logged in as ${user}; waiting for messages (Ctrl-C to stop)`);
    else socket.write(encodeFrame({ header: {}, payload: { type: 'chat', id: 'm1', data: { from: user, to, text } } }));
    return;
  }
  if (command === 'listen') {
    console.log(JSON.stringify(frame));
    return;
  }
  if (frame.payload?.id === 'm1') {
    console.log(header.status === 'good' ? 'delivered' : `not delivered: ${String(header.reason)}`);
    process.exitCode = header.status === 'good' ? 0 : 1;
    socket.end();
  }
}
