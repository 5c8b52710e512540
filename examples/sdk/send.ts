#!/usr/bin/env node
// Sends one message through the example server's echo handler and prints its status report.
//   node examples/sdk/send.ts [TO] [TEXT]        (as alice; see docs/sdk.md)
// Server, user and password come from BESTER_SERVER, BESTER_USER and BESTER_PASSWORD, with the
// example server's defaults (npm start: 127.0.0.1:2220, password "demo").
import { ClientError, connect, LoginError } from 'bester/client';

const [to = 'bob', text = 'hello'] = process.argv.slice(2);

try {
  const client = await connect({
    server: process.env.BESTER_SERVER ?? '127.0.0.1:2220',
    username: process.env.BESTER_USER ?? 'alice',
    password: process.env.BESTER_PASSWORD ?? 'demo',
  });
  try {
    // The echo handler delivers the data to the users named in data.to.
    const report = await client.send('echo', { to, text });
    if (report.status === 'good') {
      console.log(`delivered to ${to}`);
    } else {
      // A "bad" report is an answer, not an exception: code and reason say why.
      console.log(`not delivered (${report.code ?? 'bad'}): ${report.reason ?? ''}`);
      process.exitCode = 1;
    }
  } finally {
    await client.close();
  }
} catch (err) {
  // Expected failures are ClientErrors with a `code`: a refused login (LoginError), a server that
  // cannot be reached ('connect_failed'), a timeout... Anything else is a bug.
  if (!(err instanceof ClientError)) throw err;
  console.error(err instanceof LoginError ? `login refused: ${err.reason}` : err.message);
  process.exitCode = 1;
}
