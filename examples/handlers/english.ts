#!/usr/bin/env node
// Example handler for type "english", the second step of the translation chain (portuguese.ts is
// the first): delivers data.text to the users named in data.to, with data.original when present.
//
//   from the portuguese handler (sendHandler): {"to":"bob","text":"hello world","original":"olá mundo"}
//   bob receives, as type "english":           {"text":"hello world","original":"olá mundo"}
//
// A client may also send type "english" directly: {"to":"bob","text":"hi"} -> bob gets {"text":"hi"}.
import { sendClients, serveHandler } from 'bester/handler';

interface English {
  to: string[];
  text: string;
  original?: string;
}

function readEnglish(data: unknown): English {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('english data must be an object');
  const { to, text, original } = data as Record<string, unknown>;
  const users = typeof to === 'string' ? [to] : Array.isArray(to) ? to.filter((t): t is string => typeof t === 'string') : [];
  if (users.length === 0) throw new Error('"to" must name a user (or a list of users)');
  if (typeof text !== 'string') throw new Error('"text" must be a string');
  return typeof original === 'string' ? { to: users, text, original } : { to: users, text };
}

const served = await serveHandler(
  (data) => {
    const { to, ...delivered } = readEnglish(data);
    return sendClients(to, delivered);
  },
  { onError: (err) => console.error(`english: ${err instanceof Error ? err.message : String(err)}`) },
);
console.log(`english handler listening on ${served.socketPath}`);
