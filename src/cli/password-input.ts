// Reading secrets for `bester` commands: all of stdin, or a prompt on a terminal without echo.
// Shared by `bester user` (new passwords) and the commands that log in (connect-options.ts).
import { CommandError, type CliIo } from './bester-main.ts';

const MAX_STDIN_BYTES = 64 * 1024;

function cancelled(): CommandError {
  return new CommandError('cancelled, no password given');
}

/** All of stdin, without one trailing newline. */
export async function readStdinPassword(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += bytes.length;
    if (size > MAX_STDIN_BYTES) throw new CommandError('the password on stdin is too long');
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * --password-stdin when stdin is a terminal: what is typed there would be echoed, so the caller
 * prompts without echo instead (canPrompt), or, on a terminal we cannot switch off echo on, refuses.
 */
export function stdinIsTerminal(io: CliIo): boolean {
  return io.stdin.isTTY === true;
}

export function terminalRefusal(): CommandError {
  return new CommandError(
    '--password-stdin reads the password from a pipe, and stdin is a terminal that cannot hide what is typed: ' +
      'pipe it in (printf %s "$PW" | bester ...) or set BESTER_PASSWORD',
  );
}

/** Whether stdin is a terminal we can prompt on without echo. */
export function canPrompt(io: CliIo): boolean {
  return io.stdin.isTTY === true && io.stdin.setRawMode !== undefined;
}

/**
 * Reads one line per prompt from a terminal in raw mode, so nothing is echoed. Enter ends a line,
 * Backspace deletes, Ctrl-U clears, Ctrl-C (or Ctrl-D on an empty line) cancels. Prompts go to stderr.
 */
export function promptHidden(io: CliIo, prompts: readonly string[]): Promise<string[]> {
  const { stdin, stderr } = io;
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let line = '';
    const finish = (err: Error | null): void => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', finish);
      stdin.setRawMode?.(false);
      stdin.pause();
      if (err) {
        stderr.write('\n');
        reject(err);
      } else {
        resolve(lines);
      }
    };
    const onEnd = (): void => finish(cancelled());
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          lines.push(line);
          line = '';
          stderr.write('\n');
          const next = prompts[lines.length];
          if (next === undefined) return finish(null);
          stderr.write(next);
        } else if (ch === '\u0003' || (ch === '\u0004' && line === '')) {
          return finish(cancelled());
        } else if (ch === '\u007f' || ch === '\b') {
          line = [...line].slice(0, -1).join('');
        } else if (ch === '\u0015') {
          line = '';
        } else if (ch >= ' ') {
          line += ch;
        }
      }
    };
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.on('error', finish);
    stdin.setRawMode?.(true);
    stderr.write(prompts[0] ?? '');
    stdin.resume();
  });
}
