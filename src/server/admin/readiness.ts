// Whether the daemon can serve now (GET /readyz, docs/operations.md "Metrics and health"): its
// listeners are up, every handler it starts is ready, and its stores answer. Cheap enough to be
// asked every few seconds: one small query per store, each bounded by a timeout.
import type { HandlerState } from '../handlers/supervisor.ts';

export interface ReadinessSource {
  /** False before every configured listener listens, and from the moment the daemon starts stopping. */
  listenersUp(): boolean;
  handlerStatus(): ReadonlyArray<{ readonly type: string; readonly state: HandlerState }>;
  /** One cheap query per store (e.g. the account store's `has`); each resolves when the store answers. */
  readonly stores: Readonly<Record<string, () => Promise<unknown>>>;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly listeners: 'up' | 'down';
  /** Every handler's state; ready when each is `ready`, or `external` (someone else runs it). */
  readonly handlers: Readonly<Record<string, HandlerState>>;
  /** Per store: "ok", or why it is not. */
  readonly stores: Readonly<Record<string, string>>;
}

/** How long a store may take to answer its query before it counts as not ready. */
export const STORE_PROBE_TIMEOUT_MS = 1000;

export async function checkReadiness(source: ReadinessSource, timeoutMs = STORE_PROBE_TIMEOUT_MS): Promise<ReadinessReport> {
  const listeners = source.listenersUp() ? 'up' : 'down';
  const handlers: Record<string, HandlerState> = {};
  let handlersReady = true;
  for (const { type, state } of source.handlerStatus()) {
    handlers[type] = state;
    if (state !== 'ready' && state !== 'external') handlersReady = false;
  }
  const names = Object.keys(source.stores);
  const answers = await Promise.all(names.map((name) => probe(source.stores[name], timeoutMs)));
  const stores: Record<string, string> = {};
  names.forEach((name, i) => (stores[name] = answers[i] ?? 'ok'));
  const ready = listeners === 'up' && handlersReady && answers.every((answer) => answer === 'ok');
  return { ready, listeners, handlers, stores };
}

/** "ok" when `query` resolves within `timeoutMs`, else what went wrong. Never rejects. */
async function probe(query: (() => Promise<unknown>) | undefined, timeoutMs: number): Promise<string> {
  if (query === undefined) return 'ok';
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
  });
  const answered = (async () => {
    try {
      await query();
      return 'ok';
    } catch (err) {
      return `failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  })();
  try {
    return await Promise.race([answered, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
