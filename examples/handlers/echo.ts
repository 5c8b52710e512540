#!/usr/bin/env node
// Example handler for type "echo": sends the message's data back to the users it names.
// A client sends {"type":"echo","id":"1","data":{"to":"alice","text":"hello"}}; alice receives
// {"header":{"messageType":"receivedMessage"},"payload":{"type":"echo","data":{"to":"alice","text":"hello"}}}.
import { sendClients, serveHandler } from '../../src/sdk/handler.ts';

function recipients(data: unknown): string[] {
  if (typeof data !== 'object' || data === null) return [];
  const to = (data as { to?: unknown }).to;
  if (typeof to === 'string') return [to];
  if (Array.isArray(to)) return to.filter((t): t is string => typeof t === 'string');
  return [];
}

const served = await serveHandler((data) => sendClients(recipients(data), data));
console.log(`echo handler listening on ${served.socketPath}`);
