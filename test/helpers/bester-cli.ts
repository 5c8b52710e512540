// Runs the `bester` command as a child process for CLI tests: collected output, a bounded wait,
// and a way to wait for a line on stderr (e.g. `bester listen` saying it is listening).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './daemon.ts';

export const BESTER = path.join(ROOT, 'src/cli/bester.ts');

export interface Result {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to stdin, which is then closed. */
  readonly input?: string;
  /** Added to the environment; BESTER_* variables of the test's own environment are removed first. */
  readonly env?: Record<string, string>;
  /** The child is killed after this long (default 20 s). */
  readonly timeoutMs?: number;
}

export interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  readonly done: Promise<Result>;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr matches `pattern`; rejects if the child exits first or after timeoutMs. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

export function startBester(args: readonly string[], options: RunOptions = {}): Running {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('BESTER_')) delete env[key];
  Object.assign(env, options.env);
  const child = spawn(process.execPath, [BESTER, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exited = false;
  const listeners = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    for (const l of listeners) l();
  });
  child.stdin.on('error', () => undefined); // the command may exit before reading stdin
  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const done = new Promise<Result>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      exited = true;
      clearTimeout(killer);
      for (const l of listeners) l();
      resolve({ code, signal, stdout, stderr });
    });
  });
  if (options.input !== undefined) child.stdin.end(options.input);
  return {
    child,
    done,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStderr(pattern, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`stderr did not match ${pattern} within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
        const finish = (err: Error | null): void => {
          clearTimeout(timer);
          listeners.delete(check);
          if (err) reject(err);
          else resolve();
        };
        const check = (): void => {
          if (pattern.test(stderr)) finish(null);
          else if (exited) finish(new Error(`exited before stderr matched ${pattern}: ${stderr}`));
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs to the end with stdin closed (or holding `input`). */
export function runBester(args: readonly string[], options: RunOptions = {}): Promise<Result> {
  return startBester(args, { ...options, input: options.input ?? '' }).done;
}
