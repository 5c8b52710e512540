// The soak's clients (bench/soak.ts): good ones that check every acknowledged message arrives once,
// slow ones that stop reading, malicious ones, flapping ones, and one that crashes the handler now
// and then. Raw frames over TCP; every wait is bounded.
import { randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeFrame, encodeJsonFrame, FrameDecoder, parseFrameJson } from '../src/protocol/frame.ts';

export interface Frame {
  header?: Record<string, unknown>;
  payload?: Record<string, unknown>;
}

export interface SoakContext {
  readonly port: number;
  /** Set when the run is over: every loop finishes its current step and returns. */
  stopping: boolean;
  readonly ledger: Ledger;
  readonly counts: Counts;
  /** Good clients leave only once all of them have their last reports: deliveries to a partner still land. */
  readonly goodDone: Barrier;
}

/** Resolves for everyone once `n` have arrived. */
export class Barrier {
  #left: number;
  readonly #all = Promise.withResolvers<void>();

  constructor(n: number) {
    this.#left = n;
  }

  /** Arrives and waits for the others, at most `timeoutMs`. */
  async arrive(timeoutMs: number): Promise<void> {
    if (--this.#left <= 0) this.#all.resolve();
    const ac = new AbortController();
    await Promise.race([this.#all.promise, sleep(timeoutMs, undefined, { signal: ac.signal }).catch(() => undefined)]);
    ac.abort();
  }
}

/** Tallies by name: close reasons, refusal codes, events. */
export class Counts {
  readonly closes: Record<string, number> = {};
  readonly refused: Record<string, number> = {};
  readonly events: Record<string, number> = {};

  add(map: Record<string, number>, key: string, n = 1): void {
    map[key] = (map[key] ?? 0) + n;
  }
}

/** What happened to each message a good client sent: its report, and how often it was delivered. */
export class Ledger {
  readonly #entries = new Map<string, { report: 'good' | 'bad' | null; deliveries: number }>();
  sent = 0;
  unanswered = 0;

  sentOne(id: string): void {
    this.sent++;
    this.#entries.set(id, { report: null, deliveries: 0 });
  }

  reported(id: string, good: boolean): void {
    const entry = this.#entries.get(id);
    if (entry) entry.report = good ? 'good' : 'bad';
  }

  delivered(id: string): void {
    const entry = this.#entries.get(id);
    if (entry) entry.deliveries++;
    else this.#entries.set(id, { report: null, deliveries: 1 }); // never sent: counted as duplicate below
  }

  summary(): { acknowledged: number; delivered: number; lost: number; duplicated: number; deliveredUnacknowledged: number } {
    let acknowledged = 0;
    let delivered = 0;
    let lost = 0;
    let duplicated = 0;
    let deliveredUnacknowledged = 0;
    for (const entry of this.#entries.values()) {
      delivered += entry.deliveries;
      if (entry.deliveries > 1) duplicated += entry.deliveries - 1;
      if (entry.report === 'good') {
        acknowledged++;
        if (entry.deliveries === 0) lost++;
      } else if (entry.deliveries > 0) deliveredUnacknowledged++;
    }
    return { acknowledged, delivered, lost, duplicated, deliveredUnacknowledged };
  }
}

/** One framed TCP connection. `closedBy` is the code of the last error frame, when the server said why. */
class Conn {
  readonly socket: net.Socket;
  closed = false;
  /** Frames that arrived before anyone listened (e.g. offline deliveries right after the login answer). */
  readonly #early: Frame[] = [];
  #onFrame: ((frame: Frame) => void) | null = null;
  lastCode: string | null = null;
  readonly #gone = Promise.withResolvers<void>();

  private constructor(socket: net.Socket) {
    this.socket = socket;
    const decoder = new FrameDecoder(
      {
        frame: (body) => {
          let frame: Frame;
          try {
            frame = parseFrameJson(body) as Frame;
          } catch {
            return;
          }
          const code = frame.header?.code;
          if (frame.header?.messageType === 'error' && typeof code === 'string') this.lastCode = code;
          if (this.#onFrame) this.#onFrame(frame);
          else this.#early.push(frame);
        },
        error: () => socket.destroy(),
      },
      64 * 1024 * 1024,
    );
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.#gone.resolve();
    });
  }

  /** `from` is the local address: attackers come from addresses of their own, so that throttling them spares the rest. */
  static open(port: number, from = '127.0.0.1'): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
      const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), 5000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new Conn(socket));
      });
    });
  }

  /** Frames are kept again until the next listen(). */
  stopListening(): void {
    this.#onFrame = null;
  }

  /** Every frame from now on goes to `handler`, starting with those that arrived before. */
  listen(handler: (frame: Frame) => void): void {
    this.#onFrame = handler;
    for (const frame of this.#early.splice(0)) handler(frame);
  }

  send(value: unknown): void {
    if (!this.closed) this.socket.write(encodeFrame(value));
  }

  write(bytes: Buffer): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** Resolves true once the connection is closed, false after timeoutMs. */
  async gone(timeoutMs: number): Promise<boolean> {
    const ac = new AbortController();
    const closed = await Promise.race([this.#gone.promise.then(() => true), sleep(timeoutMs, false, { signal: ac.signal }).catch(() => false)]);
    ac.abort();
    return closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export const password = (user: string): string => `${user}-soak-pw`;

/** Source addresses (all loopback on Linux) of malicious and flapping clients. */
const ATTACKER = '127.0.0.2';
const FLAPPER = '127.0.0.3';

const describe = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined');

const login = (username: string, pw: string): unknown => ({
  header: { scope: 'client', authentication: { username, password: pw } },
  payload: { type: 'login', id: 'login', data: null },
});
const message = (type: string, id: string, data: unknown): unknown => ({ header: {}, payload: { type, id, data } });

/** Connects and logs in; null if the server refused (the reason is counted). */
async function loggedIn(ctx: SoakContext, user: string, pw = password(user), from?: string): Promise<Conn | null> {
  let conn: Conn;
  try {
    conn = await Conn.open(ctx.port, from);
  } catch {
    ctx.counts.add(ctx.counts.events, 'connect_failed');
    return null;
  }
  const answer = Promise.withResolvers<Frame | null>();
  conn.listen((f) => {
    conn.stopListening();
    answer.resolve(f);
  });
  void conn.gone(15_000).then(() => answer.resolve(null));
  conn.send(login(user, pw));
  const first = await answer.promise;
  if (first?.header?.status === 'good' && first.payload?.id === 'auth_special') return conn;
  ctx.counts.add(ctx.counts.closes, `login:${describe(first?.header?.code ?? 'no answer')}`);
  conn.destroy();
  return null;
}

/**
 * Sends to `partner` (another good client, always connected) through `type`, `window` messages
 * outstanding; every report and every delivery goes to the ledger.
 */
export async function goodClient(ctx: SoakContext, user: string, partner: string, type: string, window: number): Promise<void> {
  let last: Conn | null = null;
  while (!ctx.stopping) {
    const conn = await loggedIn(ctx, user);
    last = conn;
    if (!conn) {
      await sleep(200);
      continue;
    }
    const waiting = new Map<string, () => void>();
    conn.listen((f) => {
      if (f.header?.messageType === 'receivedMessage') {
        const id = (f.payload?.data as { id?: unknown } | null)?.id;
        if (typeof id === 'string') ctx.ledger.delivered(id);
        return;
      }
      const id = f.payload?.id;
      if (f.header?.messageType !== 'statusReport' || typeof id !== 'string') return;
      const good = f.header.status === 'good';
      ctx.ledger.reported(id, good);
      if (!good) ctx.counts.add(ctx.counts.refused, String(f.header.code));
      waiting.get(id)?.();
    });
    let seq = 0;
    const lane = async (): Promise<void> => {
      while (!ctx.stopping && !conn.closed) {
        const id = `${user}-${seq++}`;
        const answered = Promise.withResolvers<void>();
        waiting.set(id, answered.resolve);
        ctx.ledger.sentOne(id);
        conn.send(message(type, id, { to: [partner], id, pad: 'p'.repeat(randomInt(0, 2000)) }));
        const ac = new AbortController();
        const ok = await Promise.race([answered.promise.then(() => true), sleep(30_000, false, { signal: ac.signal }).catch(() => false)]);
        ac.abort();
        waiting.delete(id);
        if (!ok && !conn.closed) ctx.ledger.unanswered++;
      }
    };
    await Promise.all(Array.from({ length: window }, lane));
    if (conn.closed) ctx.counts.add(ctx.counts.closes, `good:${conn.lastCode ?? 'closed'}`);
  }
  await ctx.goodDone.arrive(60_000);
  await sleep(500); // the last deliveries from partners are read
  if (last && !last.closed) ctx.counts.add(ctx.counts.closes, 'good:left at the end');
  last?.destroy();
}

/** Logs in, stops reading, and keeps sending itself large messages until the server cuts it off. */
export async function slowClient(ctx: SoakContext, user: string, type: string): Promise<void> {
  const pad = 's'.repeat(32 * 1024);
  while (!ctx.stopping) {
    const conn = await loggedIn(ctx, user);
    if (!conn) {
      await sleep(200);
      continue;
    }
    conn.socket.pause();
    const started = performance.now();
    for (let i = 0; !ctx.stopping && !conn.closed && performance.now() - started < 30_000; i++) {
      if (conn.socket.writableLength < 1024 * 1024) conn.send(message(type, `slow-${i}`, { to: [user], pad }));
      await sleep(5);
    }
    ctx.counts.add(ctx.counts.closes, conn.closed ? 'slow:cut by server' : 'slow:left');
    conn.destroy();
    await sleep(100);
  }
}

/** The attacks a malicious client cycles through; each returns when its connection is gone. */
const ATTACKS: Record<string, (ctx: SoakContext) => Promise<void>> = {
  garbage: (ctx) => raw(ctx, 'garbage', (c) => c.write(randomBytes(randomInt(1, 200)))),
  oversizePrefix: (ctx) => raw(ctx, 'oversize', (c) => c.write(Buffer.from([0xff, 0xff, 0xff, 0x7f]))),
  zeroLength: (ctx) => raw(ctx, 'zero', (c) => c.write(Buffer.alloc(4))),
  halfFrameThenEnd: (ctx) =>
    raw(ctx, 'half-end', (c) => {
      c.write(Buffer.from([100, 0, 0, 0, 0x7b, 0x22]));
      c.socket.end();
    }),
  halfFrameThenWait: (ctx) => raw(ctx, 'half-wait', (c) => c.write(Buffer.from([100, 0, 0, 0, 0x7b]))),
  notJson: (ctx) => raw(ctx, 'not-json', (c) => c.write(encodeJsonFrame('{"header": nope'))),
  noScope: (ctx) => raw(ctx, 'no-scope', (c) => c.send({ header: {}, payload: {} })),
  deepAfterLogin: async (ctx) => {
    const conn = await loggedIn(ctx, 'eve', password('eve'), ATTACKER);
    if (!conn) return;
    conn.write(encodeJsonFrame(`{"header":{},"payload":{"type":"work","id":"d","data":${'['.repeat(500)}${']'.repeat(500)}}}`));
    await closeReason(ctx, conn, 'deep');
  },
  invalidAfterLogin: async (ctx) => {
    const conn = await loggedIn(ctx, 'eve', password('eve'), ATTACKER);
    if (!conn) return;
    conn.send({ header: {}, payload: 5 });
    await closeReason(ctx, conn, 'invalid');
  },
  loginFlood: async (ctx) => {
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const conn = await loggedIn(ctx, i % 2 === 0 ? 'mallory' : `nobody${i}`, 'wrong-password', ATTACKER);
        conn?.destroy();
      }),
    );
  },
};

async function raw(ctx: SoakContext, label: string, attack: (c: Conn) => void): Promise<void> {
  let conn: Conn;
  try {
    conn = await Conn.open(ctx.port, ATTACKER);
  } catch {
    ctx.counts.add(ctx.counts.events, 'connect_failed');
    return;
  }
  attack(conn);
  await closeReason(ctx, conn, label);
}

async function closeReason(ctx: SoakContext, conn: Conn, label: string): Promise<void> {
  const closed = await conn.gone(15_000);
  ctx.counts.add(ctx.counts.closes, `${label}:${closed ? (conn.lastCode ?? 'closed silently') : 'still open after 15 s'}`);
  conn.destroy();
}

export async function maliciousClient(ctx: SoakContext): Promise<void> {
  const names = Object.keys(ATTACKS);
  while (!ctx.stopping) {
    const name = names[randomInt(names.length)]!;
    ctx.counts.add(ctx.counts.events, `attack:${name}`);
    await ATTACKS[name]!(ctx);
    await sleep(randomInt(10, 100));
  }
}

/** Connects and disconnects at random points: before the login, right after it, in the middle of a frame. */
export async function flappingClient(ctx: SoakContext, user: string): Promise<void> {
  while (!ctx.stopping) {
    ctx.counts.add(ctx.counts.events, 'flap');
    const step = randomInt(3);
    if (step === 0) {
      const conn = await Conn.open(ctx.port, FLAPPER).catch(() => null);
      conn?.write(encodeFrame(login(user, password(user))).subarray(0, randomInt(1, 20)));
      conn?.destroy();
    } else {
      const conn = await loggedIn(ctx, user, password(user), FLAPPER);
      if (conn && step === 2) conn.send(message('dummy', 'd', null));
      conn?.destroy();
    }
    await sleep(randomInt(20, 150));
  }
}

/** Every `everyMs`, asks the handler for `type` to crash (fake-handler mode "crash"). */
export async function crasher(ctx: SoakContext, user: string, type: string, everyMs: number): Promise<void> {
  const conn = await loggedIn(ctx, user);
  if (!conn) return;
  conn.listen((f) => {
    if (f.header?.messageType === 'statusReport') ctx.counts.add(ctx.counts.events, `crash report:${describe(f.header.code ?? 'good')}`);
  });
  let i = 0;
  while (!ctx.stopping) {
    const until = performance.now() + everyMs;
    while (!ctx.stopping && performance.now() < until) await sleep(100);
    if (ctx.stopping) break;
    ctx.counts.add(ctx.counts.events, 'crashes requested');
    conn.send(message(type, `crash-${i++}`, { mode: 'crash' }));
  }
  conn.destroy();
}
