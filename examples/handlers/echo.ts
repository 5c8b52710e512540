#!/usr/bin/env node
// Example handler for type "echo": sends the message's data back, unchanged, to the users it names
// in data.to (one name or a list). The simplest handler there is (docs/handlers.md).
//
//   alice sends  {"header":{},"payload":{"type":"echo","id":"1","data":{"to":"bob","text":"hello"}}}
//   bob receives {"header":{"messageType":"receivedMessage"},"payload":{"type":"echo","data":{"to":"bob","text":"hello"}}}
//
// Without a "to", nobody receives it and alice still gets "good" (an empty sendClients list).
import { sendClients, serveHandler } from 'bester/handler';

function recipients(data: unknown): string[] {
  if (typeof data !== 'object' || data === null) return [];
  const to = (data as { to?: unknown }).to;
  if (typeof to === 'string') return [to];
  if (Array.isArray(to)) return to.filter((t): t is string => typeof t === 'string');
  return [];
}

const served = await serveHandler((data) => sendClients(recipients(data), data));
console.log(`echo handler listening on ${served.socketPath}`);
