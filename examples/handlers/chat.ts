#!/usr/bin/env node
// Example handler for type "chat": a direct message to one named user.
// A client sends data {"from":"alice","to":"bob","text":"hi"}; bob receives
// {"from":"alice","text":"hi","sentAt":"<ISO time>"} as a delivery of type "chat".
// Note: handlers see only the message's data, so "from" is what the sender wrote (docs/protocol.md §4.1).
import { sendClients, serveHandler } from '../../src/sdk/handler.ts';

interface ChatMessage {
  from: string;
  to: string;
  text: string;
}

function readChat(data: unknown): ChatMessage {
  if (typeof data !== 'object' || data === null) throw new Error('chat data must be an object');
  const { from, to, text } = data as Record<string, unknown>;
  if (typeof to !== 'string' || to.trim() === '') throw new Error('"to" must name a user');
  if (typeof text !== 'string') throw new Error('"text" must be a string');
  return { from: typeof from === 'string' ? from : 'someone', to: to.trim(), text };
}

const served = await serveHandler((data) => {
  const msg = readChat(data);
  return sendClients([msg.to], { from: msg.from, text: msg.text, sentAt: new Date().toISOString() });
});
console.log(`chat handler listening on ${served.socketPath}`);
