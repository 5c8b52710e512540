// The original author's repository as test data (../shared/original-besterd beside the checkout,
// as CI lays it out): its testing/ scripts copied, executable, into a test folder, and its own
// server.conf read with its listeners moved to port 0 on loopback. Missing data is a failure.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './daemon.ts';
import { until } from './until.ts';

export type OriginalConf = Record<string, Record<string, Record<string, unknown>>>;

/** shared/original-besterd in the repository root's parent folders (../shared from a main checkout). */
function findOriginal(): string | null {
  for (let dir = path.dirname(ROOT); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'shared', 'original-besterd');
    if (existsSync(path.join(candidate, 'server.conf'))) return candidate;
    if (path.dirname(dir) === dir) return null;
  }
}

/** Copies the original's testing/ scripts into `dir`/testing and returns its server.conf, listeners on port 0. */
export function originalLayout(dir: string): OriginalConf {
  const original = findOriginal();
  assert.ok(original !== null, 'shared/original-besterd not found in a parent folder of the repository (CI has ../shared beside the checkout)');
  mkdirSync(path.join(dir, 'testing'));
  for (const name of readdirSync(path.join(original, 'testing'))) {
    copyFileSync(path.join(original, 'testing', name), path.join(dir, 'testing', name));
    chmodSync(path.join(dir, 'testing', name), 0o755);
  }
  const conf = JSON.parse(readFileSync(path.join(original, 'server.conf'), 'utf8')) as OriginalConf;
  const network = conf['network']!;
  network['tcp4'] = { ...network['tcp4'], port: '0', address: '127.0.0.1' };
  network['tcp6'] = { ...network['tcp6'], port: '0', address: '::1' };
  return conf;
}

export type LogLine = Record<string, unknown> & { msg?: string };


export interface OriginalDaemon {
  readonly child: ChildProcess;
  /** Its log lines so far (JSON), and them with its stderr, for failure messages. */
  readonly logs: LogLine[];
  readonly shown: () => string;
  readonly exited: Promise<number | null>;
}

/** `besterd server.conf` run in `dir`, as the original's author ran his daemon: its log collected. */
export function runBesterdIn(dir: string): OriginalDaemon {
  const child = spawn(process.execPath, [path.join(ROOT, 'src/cli/besterd.ts'), 'server.conf'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', () => undefined);
  const logs: LogLine[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  createInterface({ input: child.stdout }).on('line', (line) => logs.push(JSON.parse(line) as LogLine));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, logs, shown: () => `${logs.map((l) => JSON.stringify(l)).join('\n')}\n${stderr}`, exited };
}

/** Waits for `besterd started` and returns its TCP port. */
export async function startedPort(daemon: OriginalDaemon): Promise<number> {
  await until('besterd started', () => daemon.logs.some((l) => l.msg === 'besterd started'), 20_000, daemon.shown);
  const started = daemon.logs.find((l) => l.msg === 'besterd started')!;
  return Number((started['listeners'] as string[]).find((a) => a.startsWith('tcp4://'))!.split(':').pop());
}
