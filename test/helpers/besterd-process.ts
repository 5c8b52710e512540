// besterd as a child process, as operators run it: its JSON log lines kept, its start awaited
// ("besterd started" with the listener addresses), its exit code. Also: is a process alive.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export interface BesterdProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Every log line so far, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** The "besterd started" line; rejects if the daemon exits first or does not start in time. */
  readonly started: Promise<{ readonly listeners: readonly string[]; readonly port: number | null }>;
  readonly exited: Promise<number | null>;
  readonly stderr: () => string;
}

/** Runs `command args` (process.execPath and besterd.ts with a config, or a wrapper that ends by running it). */
export function spawnBesterd(command: string, args: readonly string[], timeoutMs = 20_000): BesterdProcess {
  const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', () => undefined);
  let stderr = '';
  const logs: Array<Record<string, unknown>> = [];
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = new Promise<{ listeners: string[]; port: number | null }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`besterd did not start in ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry.msg === 'besterd started') {
        clearTimeout(timer);
        const listeners = entry.listeners as string[];
        const tcp = listeners.find((a) => a.startsWith('tcp4://'));
        resolve({ listeners, port: tcp === undefined ? null : Number(tcp.split(':').pop()) });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`besterd exited (${code}): ${stderr}\n${JSON.stringify(logs)}`));
    });
  });
  started.catch(() => undefined); // awaited by the test; an exit after the start is not an error here
  return { child, logs, started, exited, stderr: () => stderr };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
