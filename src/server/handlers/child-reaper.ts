// The handler processes this process has running (managed-handler.ts). Normally the supervisor's
// stop() ends them (SIGTERM, then SIGKILL after stopTimeoutMs); if the process exits before that
// (process.exit in a program that embeds the server, or in a test; a fatal error), they are
// SIGKILLed as it exits, so that no handler outlives its daemon and holds its socket against the
// next one. Only a SIGKILL of the daemon itself leaves them running (docs/operations.md).
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let hooked = false;

/** `child` is SIGKILLed if this process exits while it runs. */
export function reapAtExit(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const running of live) {
      try {
        running.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}
