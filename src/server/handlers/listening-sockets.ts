// Where a started handler process listens, found by its pid (Linux): its open file descriptors
// name socket inodes (/proc/PID/fd/N -> "socket:[INODE]"), and /proc/net/unix gives the path each
// listening inode is bound at. Used to say where a handler listens when it is not at its
// configured socket (docs/configuration.md, "How handlers are started"). Reads only; never connects.
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

/** __SO_ACCEPTCON in /proc/net/unix's Flags column: the socket is listening. */
const SO_ACCEPTCON = 0x10000;
/** "Num: RefCount Protocol Flags Type St Inode Path" */
const PROC_LINE = /^\S+: [0-9A-Fa-f]+ [0-9A-Fa-f]+ ([0-9A-Fa-f]+) [0-9A-Fa-f]+ [0-9A-Fa-f]+ +(\d+) (.+)$/;
/** A handler started through a wrapper (a shell script, `env`) listens in a child: look that deep. */
const MAX_DEPTH = 3;
const MAX_PROCESSES = 32;

/** The pid and its descendants (breadth first, bounded). */
async function processTree(pid: number): Promise<number[]> {
  const found = [pid];
  let level = [pid];
  for (let depth = 0; depth < MAX_DEPTH && level.length > 0 && found.length < MAX_PROCESSES; depth += 1) {
    const next: number[] = [];
    for (const parent of level) {
      const tasks = await readdir(`/proc/${parent}/task`).catch(() => [] as string[]);
      for (const task of tasks) {
        const text = await readFile(`/proc/${parent}/task/${task}/children`, 'utf8').catch(() => '');
        for (const child of text.split(' ')) if (/^\d+$/.test(child)) next.push(Number(child));
      }
    }
    found.push(...next.slice(0, MAX_PROCESSES - found.length));
    level = next;
  }
  return found;
}

/** Socket inodes open in `pid`, and its working directory (relative bind paths resolve from it). */
async function socketsOf(pid: number): Promise<{ inodes: Set<string>; cwd: string | null }> {
  const inodes = new Set<string>();
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match?.[1] !== undefined) inodes.add(match[1]);
  }
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => null);
  return { inodes, cwd };
}

/**
 * The absolute paths of the UNIX sockets the process `pid` (or a process it started) listens on;
 * abstract names keep their "@". Null where /proc cannot tell (not Linux, or not permitted).
 * Never rejects.
 */
export async function listeningPathsOf(pid: number): Promise<string[] | null> {
  let table: string;
  try {
    table = await readFile('/proc/net/unix', 'utf8');
  } catch {
    return null;
  }
  const bound = new Map<string, string>(); // inode -> path, listening sockets only
  for (const line of table.split('\n')) {
    const match = PROC_LINE.exec(line);
    if (!match) continue;
    const [, flags = '0', inode = '', where = ''] = match;
    if ((Number.parseInt(flags, 16) & SO_ACCEPTCON) !== 0) bound.set(inode, where);
  }
  const paths = new Set<string>();
  for (const process of await processTree(pid)) {
    const { inodes, cwd } = await socketsOf(process);
    for (const inode of inodes) {
      const where = bound.get(inode);
      if (where === undefined) continue;
      paths.add(where.startsWith('@') || cwd === null ? where : path.resolve(cwd, where));
    }
  }
  return [...paths];
}

/** Where `pid` listens when it is not at `configured`: null when it is there, nowhere yet, or /proc cannot tell. */
export async function listeningElsewhere(pid: number, configured: string): Promise<string[] | null> {
  const paths = await listeningPathsOf(pid);
  return paths === null || paths.length === 0 || paths.includes(configured) ? null : paths;
}

