// WebSocketDuplex (src/server/transport/websocket-duplex.ts) between a real `ws` server and client on
// port 0: frames written in any cut come out one text message each, at every header size of RFC
// 6455 §5.2 (the server's own frame writer) and through ws.send (the client's end); messages come
// in with their length prefix; a write that is not frames is an error.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { encodeJsonFrame, FrameDecoder } from '../../src/protocol/frame.ts';
import { WebSocketDuplex } from '../../src/server/transport/websocket-duplex.ts';

/** An open pair: the server's end as a WebSocketDuplex (serverFrames), the client's as a plain ws client, and the reverse. */
async function pair(server: http.Server, wss: WebSocketServer): Promise<{ ours: WebSocketDuplex; theirs: WebSocket; clientEnd: () => WebSocketDuplex }> {
  const accepted = new Promise<WebSocketDuplex>((resolve) => {
    server.once('upgrade', (req, socket: net.Socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => resolve(new WebSocketDuplex(ws, socket, { serverFrames: true })));
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  const theirs = new WebSocket(`ws://127.0.0.1:${port}/`);
  let socket: net.Socket | null = null;
  theirs.once('upgrade', (res) => (socket = res.socket));
  await new Promise((resolve, reject) => {
    theirs.once('open', resolve);
    theirs.once('error', reject);
  });
  const ours = await accepted;
  ours.on('error', () => undefined);
  return { ours, theirs, clientEnd: () => new WebSocketDuplex(theirs, socket) };
}

function messages(ws: WebSocket, count: number): Promise<Array<{ text: string; binary: boolean }>> {
  const got: Array<{ text: string; binary: boolean }> = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${got.length} of ${count} messages`)), 5000);
    ws.on('message', (data: Buffer, binary: boolean) => {
      got.push({ text: data.toString('utf8'), binary });
      if (got.length === count) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

describe('WebSocketDuplex', () => {
  const server = http.createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  before(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('the server end writes one text frame per Bester frame, at every header size, in one write or several', async () => {
    const { ours, theirs } = await pair(server, wss);
    const sizes = [1, 125, 126, 127, 65_535, 65_536, 70_000];
    const texts = sizes.map((n) => JSON.stringify('x'.repeat(Math.max(0, n - 2))));
    const got = messages(theirs, texts.length * 2);
    // One batch (writev, corked), then one write per frame.
    ours.cork();
    for (const text of texts) ours.write(encodeJsonFrame(text));
    process.nextTick(() => ours.uncork());
    await new Promise((r) => setTimeout(r, 20));
    for (const text of texts) ours.write(encodeJsonFrame(text));
    const all = await got;
    assert.deepEqual(all.map((m) => m.text.length), [...sizes, ...sizes].map((n) => Math.max(2, n)));
    assert.ok(all.every((m) => !m.binary && m.text.startsWith('"')), 'text messages');
    theirs.terminate();
  });

  test('frames cut anywhere across writes, and several in one write, still become one message each', async () => {
    const { ours, theirs } = await pair(server, wss);
    const frames = Buffer.concat(['{"a":1}', '"two"', '[3]'].map((t) => encodeJsonFrame(t)));
    const got = messages(theirs, 3);
    const cuts = [0, 1, 6, 9, 15, frames.length];
    for (let i = 1; i < cuts.length; i++) ours.write(frames.subarray(cuts[i - 1], cuts[i]));
    assert.deepEqual((await got).map((m) => m.text), ['{"a":1}', '"two"', '[3]']);
    theirs.terminate();
  });

  test('messages come in prefixed with their length; the client end sends through ws.send; close ends both', async () => {
    const { ours, clientEnd } = await pair(server, wss);
    const client = clientEnd();
    client.on('error', () => undefined);
    const bodies: string[] = [];
    const decoder = new FrameDecoder({ frame: (b) => bodies.push(b.toString('utf8')), error: (err) => assert.fail(err) }, 1 << 20);
    ours.on('data', (chunk: Buffer) => decoder.push(chunk));
    client.write(encodeJsonFrame('"hello"'));
    client.write(Buffer.concat([encodeJsonFrame('1'), encodeJsonFrame('2')]));
    const deadline = Date.now() + 5000;
    while (bodies.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(bodies, ['"hello"', '1', '2']);
    const closed = new Promise((resolve) => ours.once('close', resolve));
    client.end();
    await closed;
    assert.equal(ours.destroyed, true);
  });

  test('a write that is not frames (a zero length) destroys the stream with an error', async () => {
    const { ours, theirs } = await pair(server, wss);
    const failed = new Promise<Error>((resolve) => ours.once('error', resolve));
    ours.write(Buffer.alloc(8));
    assert.match((await failed).message, /zero-length frame/);
    theirs.terminate();
  });
});
