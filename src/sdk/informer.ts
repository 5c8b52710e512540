// The informer client (`bester/informer`, docs/sdk.md): ask a running daemon who is online and what
// it is, or deliver to users, over its informer socket (docs/protocol.md §9). Handlers the daemon
// starts find the socket in BESTER_INFORMER_SOCKET:
//
//   const informer = await connectInformer();
//   const online = await informer.listClients();
//   await informer.close();
//
// Requests are answered in order (§9.2), so answers are matched first in, first out; a request
// that timed out keeps its place in the line and its late answer is dropped.
import type { Socket } from 'node:net';
import { FrameConnection } from '../framing/frame-connection.ts';
import { parseFrameJson } from '../protocol/frame.ts';
import { isObject, own } from '../protocol/json.ts';
import { formatServerAddress, parseServerAddress, toServerAddress, type ServerAddress } from './address.ts';
import { ClientError, InformerError } from './errors.ts';
import { readServerInfo, type ServerInfo } from './server-info.ts';
import { describeSocketError, openSocket } from './socket.ts';

export { ClientError, InformerError } from './errors.ts';
export type { HandlerInfo, ServerInfo } from './server-info.ts';

export interface InformerOptions {
  /** Deadline of each request (ms). Default 5 s. */
  readonly timeoutMs?: number;
  /** Deadline for the socket to open (ms). Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Largest answer accepted. Default 16 MiB. */
  readonly maxFrameBytes?: number;
}

export interface SendClientsResult {
  /** Users who got it on at least one connection. */
  readonly delivered: string[];
  /** Users not connected to this server. */
  readonly undelivered: string[];
}

interface Slot {
  readonly command: string;
  readonly resolve: (data: unknown) => void;
  readonly reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
  /** Timed out: its answer, when it comes, is dropped. */
  expired: boolean;
}

const MAX_OUTBOUND_BYTES = 8 * 1024 * 1024;

/** What a reload applied (§9.4.6): config keys such as "limits.maxFrameBytes" or "handlers.typeMap.echo". */
export interface ReloadAnswer {
  readonly applied: readonly string[];
  /** Keys that changed but take effect only when the daemon restarts (listeners, stores, node id). */
  readonly restartNeeded: readonly string[];
}

export class InformerClient {
  readonly path: string;
  readonly #conn: FrameConnection;
  readonly #timeoutMs: number;
  readonly #slots: Slot[] = [];
  readonly #closed: Promise<void>;
  #open = true;
  #lostReason: ClientError | null = null;

  private constructor(path: string, socket: Socket, options: InformerOptions) {
    this.path = path;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    let markClosed: () => void = () => undefined;
    this.#closed = new Promise((resolve) => (markClosed = resolve));
    const label = `informer ${path}`;
    this.#conn = new FrameConnection(
      socket,
      label,
      {
        frame: (body) => this.#onAnswer(body),
        protocolError: (err) => {
          this.#lostReason ??= new ClientError('bad_server_frame', `${label} broke the framing: ${err.message}`, { cause: err });
          this.#conn.destroy();
        },
        ended: () => this.#conn.close(),
        closed: (err) => {
          this.#open = false;
          const reason =
            this.#lostReason ??
            new ClientError(
              'connection_closed',
              err ? `connection to ${label} lost: ${describeSocketError(err)}` : `${label} closed the connection`,
            );
          for (const slot of this.#slots.splice(0)) this.#finish(slot, null, reason);
          markClosed();
        },
      },
      { maxFrameBytes: options.maxFrameBytes ?? 16 * 1024 * 1024, maxOutboundBytes: MAX_OUTBOUND_BYTES },
    );
  }

  /** Opens a connection to the informer socket at `path` ('unix:' prefix optional). */
  static async connect(path: string | undefined, options: InformerOptions = {}): Promise<InformerClient> {
    if (path === undefined || path === '') {
      throw new ClientError('bad_address', 'no informer socket: set BESTER_INFORMER_SOCKET or give its path');
    }
    const address: ServerAddress = path.startsWith('unix:') ? parseServerAddress(path) : toServerAddress({ path });
    if (!('path' in address)) throw new ClientError('bad_address', `the informer is a UNIX socket, not ${formatServerAddress(address)}`);
    const socket = await openSocket(address, options.connectTimeoutMs ?? 5000);
    return new InformerClient(address.path, socket, options);
  }

  /** Whether requests can be sent (false after close(), quit() or a lost connection). */
  get isOpen(): boolean {
    return this.#open && this.#conn.isOpen;
  }

  /** Sends any command and resolves with its `data`; status "1" rejects with InformerError. */
  request(type: string, data: unknown = null, options: { timeoutMs?: number } = {}): Promise<unknown> {
    if (!this.isOpen) return Promise.reject(new ClientError('not_connected', `the connection to informer ${this.path} is closed`));
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    return new Promise((resolve, reject) => {
      const slot: Slot = { command: type, resolve, reject, timer: null, expired: false };
      slot.timer = setTimeout(() => {
        slot.expired = true;
        slot.timer = null;
        reject(new ClientError('timeout', `informer ${this.path} did not answer ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#slots.push(slot);
      if (!this.#conn.send({ command: { type, data } })) {
        this.#slots.pop();
        this.#finish(slot, null, new ClientError('not_connected', `the connection to informer ${this.path} is closed`));
      }
    });
  }

  /** §9.4.1: the users connected as clients now, each once. */
  async listClients(): Promise<string[]> {
    const data = await this.request('listClients');
    if (!Array.isArray(data) || !data.every((u): u is string => typeof u === 'string')) throw this.#badAnswer('listClients');
    return data;
  }

  /** §9.4.2: whether `username` holds at least one client connection. */
  async isClient(username: string): Promise<boolean> {
    const data = await this.request('isClient', username);
    if (typeof data !== 'boolean') throw this.#badAnswer('isClient');
    return data;
  }

  /** §9.4.3: what the server is; fields of a newer or older daemon are kept only when well-typed. */
  async serverInfo(): Promise<ServerInfo> {
    const info = readServerInfo(await this.request('serverInfo'));
    if (info === null) throw this.#badAnswer('serverInfo');
    return info;
  }

  /** §9.4.5: delivers `data` as a message of `type` to every connection of each named user. */
  async sendClients(users: readonly string[], type: string, data: unknown): Promise<SendClientsResult> {
    const answer = await this.request('sendClients', { users, type, data: data ?? null });
    const delivered = isObject(answer) ? own(answer, 'delivered') : undefined;
    const undelivered = isObject(answer) ? own(answer, 'undelivered') : undefined;
    if (!isStringArray(delivered) || !isStringArray(undelivered)) throw this.#badAnswer('sendClients');
    return { delivered, undelivered };
  }

  /**
   * §9.4.6: the server reads its config file again and applies it (docs/operations.md). Resolves
   * with the config keys it applied and those that need a restart; rejects with InformerError when
   * the new config was refused (its message lists the errors; the running config is kept).
   */
  async reload(options: { timeoutMs?: number } = {}): Promise<ReloadAnswer> {
    const answer = await this.request('reload', null, options);
    const applied = isObject(answer) ? own(answer, 'applied') : undefined;
    const restartNeeded = isObject(answer) ? own(answer, 'restartNeeded') : undefined;
    if (!isStringArray(applied) || !isStringArray(restartNeeded)) throw this.#badAnswer('reload');
    return { applied, restartNeeded };
  }

  /** §9.4.7: the server restarts the process of the handler for `type` now; rejects with InformerError when it cannot. */
  async restartHandler(type: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const answer = await this.request('restartHandler', type, options);
    if (answer !== true) throw this.#badAnswer('restartHandler');
  }

  /** §9.4.4: asks the server to end this connection; resolves once it is closed. */
  async quit(): Promise<void> {
    await this.request('quit');
    this.#open = false;
    await this.#closed;
  }

  /** Closes the connection; requests still waiting reject. Idempotent; resolves once the socket is closed. */
  close(): Promise<void> {
    if (this.#open) {
      this.#open = false;
      this.#lostReason ??= new ClientError('connection_closed', `the connection to informer ${this.path} was closed`);
      this.#conn.close();
    }
    return this.#closed;
  }

  #onAnswer(body: Buffer): void {
    const slot = this.#slots.shift();
    if (slot === undefined) return; // an answer nobody asked for: nothing to match it with
    if (slot.expired) return;
    let value: unknown;
    try {
      value = parseFrameJson(body);
    } catch (err) {
      this.#finish(slot, null, new ClientError('bad_server_frame', `informer ${this.path} answered ${slot.command} with ${(err as Error).message}`));
      return;
    }
    if (!isObject(value)) {
      this.#finish(slot, null, this.#badAnswer(slot.command));
      return;
    }
    const status = own(value, 'status');
    if (status === '0' || status === 0) {
      this.#finish(slot, { data: own(value, 'data') ?? null }, null);
      return;
    }
    const error = own(value, 'error');
    this.#finish(slot, null, new InformerError(typeof error === 'string' && error !== '' ? error : `the informer answered ${slot.command} with status ${JSON.stringify(status)}`));
  }

  #finish(slot: Slot, answer: { data: unknown } | null, err: Error | null): void {
    if (slot.timer !== null) clearTimeout(slot.timer);
    slot.timer = null;
    if (slot.expired) return;
    slot.expired = true;
    if (answer !== null) slot.resolve(answer.data);
    else slot.reject(err ?? new Error('unreachable'));
  }

  #badAnswer(command: string): ClientError {
    return new ClientError('bad_server_frame', `informer ${this.path} sent an answer to ${command} of the wrong shape`);
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** Connects to the informer at `path` (default: $BESTER_INFORMER_SOCKET, set for handlers the daemon starts). */
export function connectInformer(path: string | undefined = process.env.BESTER_INFORMER_SOCKET, options: InformerOptions = {}): Promise<InformerClient> {
  return InformerClient.connect(path, options);
}
