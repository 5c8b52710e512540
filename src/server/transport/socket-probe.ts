// Is something serving a UNIX socket path? (STYLE.md #16: probe, and unlink only if nothing answers.)
// Two ways to ask: connect to it, or (Linux) read /proc/net/unix without connecting. The second
// matters for handlers written for the original: they read a frame from every connection they
// accept and crash on one that closes empty, so a readiness probe must not connect to them.
import { lstat, readFile, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

export interface ProbeOptions {
  /** How long the connection attempt may take (default 1000 ms); a timeout counts as "not accepting". */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Whether something accepts connections on the UNIX socket at `socketPath`: connects, then closes
 * at once. A full listen backlog (EAGAIN) counts as accepting. Never rejects.
 */
export function probeUnixSocket(socketPath: string, options: ProbeOptions = {}): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const { signal } = options;
    if (signal?.aborted === true) {
      resolve(false);
      return;
    }
    let settled = false;
    const socket = net.createConnection({ path: socketPath });
    const onAbort = (): void => settle(false);
    const timer = setTimeout(() => settle(false), options.timeoutMs ?? 1000);
    function settle(accepting: boolean): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(accepting);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err: NodeJS.ErrnoException) => settle(err.code === 'EAGAIN'));
    socket.on('connect', () => settle(true));
    socket.on('close', () => settle(false));
  });
}

/** __SO_ACCEPTCON in /proc/net/unix's Flags column: the socket is listening. */
const SO_ACCEPTCON = 0x10000;
/** "Num: RefCount Protocol Flags Type St Inode Path" */
const PROC_LINE = /^\S+: [0-9A-Fa-f]+ [0-9A-Fa-f]+ ([0-9A-Fa-f]+) ([0-9A-Fa-f]+) [0-9A-Fa-f]+ +\d+ (.+)$/;
const SOCK_STREAM = 1;

/**
 * Whether a listening stream socket is bound at `socketPath`, from /proc/net/unix, without
 * connecting. Paths there are as the process passed them to bind(); relative ones are resolved
 * against `cwd` (pass the working directory the bound process was started in).
 * Resolves null where /proc/net/unix cannot be read (not Linux). Never rejects.
 */
export async function listeningInProcNetUnix(
  socketPath: string,
  cwd: string,
  signal?: AbortSignal,
): Promise<boolean | null> {
  let table: string;
  try {
    table = await readFile('/proc/net/unix', { encoding: 'utf8', signal });
  } catch {
    return null;
  }
  const wanted = path.resolve(socketPath);
  for (const line of table.split('\n')) {
    const match = PROC_LINE.exec(line);
    if (!match) continue;
    const [, flags = '0', type = '0', bound = ''] = match;
    if (bound.startsWith('@')) continue; // abstract namespace
    if ((Number.parseInt(flags, 16) & SO_ACCEPTCON) === 0) continue;
    if (Number.parseInt(type, 16) !== SOCK_STREAM) continue;
    if (path.resolve(cwd, bound) === wanted) return true;
  }
  return false;
}

/**
 * Whether some process serves `socketPath`: listed as listening in /proc/net/unix (no connection
 * made), or else accepting a connect probe. `cwd` resolves relative paths found in /proc/net/unix.
 */
export async function unixSocketServed(socketPath: string, options: ProbeOptions & { cwd?: string } = {}): Promise<boolean> {
  const listed = await listeningInProcNetUnix(socketPath, options.cwd ?? process.cwd(), options.signal);
  return listed === true || (await probeUnixSocket(socketPath, options));
}

/**
 * Makes `socketPath` free to bind (STYLE.md #16): a socket file that nothing serves is stale and
 * is unlinked. Resolves 'free' (nothing there), 'removed' (stale file unlinked), 'in-use' (some
 * process serves it) or 'not-a-socket' (another kind of file, left alone). Rejects only when the
 * stale file cannot be unlinked.
 */
export async function clearStaleSocket(
  socketPath: string,
  options: ProbeOptions & { cwd?: string } = {},
): Promise<'free' | 'removed' | 'in-use' | 'not-a-socket'> {
  try {
    if (!(await lstat(socketPath)).isSocket()) return 'not-a-socket';
  } catch {
    return 'free'; // missing, or not inspectable: binding will tell
  }
  if (await unixSocketServed(socketPath, options)) return 'in-use';
  try {
    await unlink(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return 'removed';
}
