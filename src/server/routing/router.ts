// Dispatch of a message to its handler and the carrying-out of the handler's reply
// (docs/protocol.md §4). Deciding is in protocol/handler-reply.ts; this walks the chain.
import { BesterError, type ErrorCode } from '../../protocol/errors.ts';
import { parseHandlerReply } from '../../protocol/handler-reply.ts';
import type { HandlerConfig, LimitsConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { SessionRegistry } from '../session/registry.ts';
import type { ForwardRequest, ForwardResult } from '../federation/federation.ts';
import { deliverToUsers } from './delivery.ts';

export type HandlerCaller = (
  handler: HandlerConfig,
  data: unknown,
  options: { timeoutMs: number; maxReplyBytes: number; signal?: AbortSignal },
) => Promise<unknown>;

/** What the sender is told about one message (§3.3). */
export type Outcome =
  | { readonly good: true; readonly servers?: Readonly<Record<string, string>> }
  | {
      readonly good: false;
      readonly code: ErrorCode;
      readonly reason: string;
      readonly undelivered?: readonly string[];
      readonly servers?: Readonly<Record<string, string>>;
    };

/** Who a message is from and where it has been (for envelopes and federation). */
export interface DispatchContext {
  /** The logged-in user who sent it (or, from a peer, the user its origin server vouches for). */
  readonly sender: string | null;
  readonly id: string | null;
  /** The server where it entered the federation; absent for a message from one of our clients. */
  readonly origin?: string;
  /** Servers crossed so far; absent (0) for a message from one of our clients. */
  readonly hops?: number;
}

/** The part of federation the router needs: carrying out sendServers. */
export interface Forwarder {
  forward(targets: readonly string[], request: ForwardRequest): Promise<ForwardResult>;
}

export interface RouterOptions {
  readonly handlers: ReadonlyMap<string, HandlerConfig>;
  readonly limits: LimitsConfig;
  readonly registry: SessionRegistry;
  readonly callHandler: HandlerCaller;
  readonly logger: Logger;
  /** Carries out sendServers; without it sendServers is answered federation_unavailable. */
  readonly federation?: Forwarder;
  /** Aborted on shutdown: calls in flight end with 'shutting_down'. */
  readonly signal?: AbortSignal;
}

export class Router {
  readonly #o: RouterOptions;

  constructor(options: RouterOptions) {
    this.#o = options;
  }

  #forward(servers: readonly string[], type: string, data: unknown, context: DispatchContext): Promise<Outcome> {
    return forward(this.#o.federation, servers, type, data, context);
  }

  /** Runs a message through its handler chain and carries out the final command. Never rejects. */
  /**
   * `sender` is the logged-in user (null for a legacy server-scope message); handlers whose
   * config says `"input": "envelope"` receive it with the data (§4.4).
   */
  async dispatch(type: string, data: unknown, context: DispatchContext): Promise<Outcome> {
    const { handlers, limits, logger } = this.#o;
    let currentType = type;
    let currentData = data;
    for (let hops = 0; ; hops++) {
      const handler = handlers.get(currentType);
      if (!handler) {
        return hops === 0
          ? bad('unknown_type', `no handler for type ${JSON.stringify(currentType)}`)
          : bad('unknown_type', `sendHandler named ${JSON.stringify(currentType)}, which has no handler`);
      }
      let raw: unknown;
      try {
        const input =
          handler.input === 'envelope'
            ? { sender: context.sender, type: currentType, id: context.id, data: currentData }
            : currentData;
        raw = await this.#o.callHandler(handler, input, {
          timeoutMs: handler.timeoutMs,
          maxReplyBytes: limits.maxHandlerFrameBytes,
          ...(this.#o.signal ? { signal: this.#o.signal } : {}),
        });
      } catch (err) {
        const e = err instanceof BesterError ? err : new BesterError('internal_error', String(err), { cause: err });
        logger.warn({ handler: currentType, code: e.code, err: e.message, sender: context.sender, id: context.id }, 'handler call failed');
        return bad(e.code, `handler ${JSON.stringify(currentType)}: ${e.message}`);
      }
      const reply = parseHandlerReply(raw);
      if (!reply.ok) {
        logger.warn({ handler: currentType, code: reply.code, reason: reply.reason, id: context.id }, 'handler reply refused');
        return bad(reply.code, `handler ${JSON.stringify(currentType)}: ${reply.reason}`);
      }
      if (reply.quirk) logger.warn({ handler: currentType, quirk: reply.quirk }, 'handler reply read leniently');
      const command = reply.command;
      switch (command.kind) {
        case 'sendClients': {
          const result = deliverToUsers(this.#o.registry, command.users, currentType, reply.data);
          logger.debug({ handler: currentType, id: context.id, delivered: result.delivered.length, undelivered: result.undelivered }, 'delivered');
          if (result.undelivered.length === 0) return { good: true };
          return {
            good: false,
            code: 'recipients_offline',
            reason: `not connected: ${result.undelivered.join(', ')}`,
            undelivered: result.undelivered,
          };
        }
        case 'sendServers':
          return this.#forward(command.servers, type, reply.data, context);
        case 'sendHandler':
          if (hops + 1 > limits.maxHandlerHops) {
            return bad('handler_chain_too_long', `handler chain longer than ${limits.maxHandlerHops} sendHandler hops`);
          }
          currentType = command.handler;
          currentData = reply.data;
          break;
      }
    }
  }
}

/**
 * The message's own type travels to the peer, not the type of the handler that produced the
 * result (docs/federation.md §3.3): the peer runs its own handler for the type the client sent.
 */
async function forward(
  federation: Forwarder | undefined,
  servers: readonly string[],
  type: string,
  data: unknown,
  context: DispatchContext,
): Promise<Outcome> {
  if (!federation) return bad('federation_unavailable', 'sendServers: federation is not configured on this server');
  const result = await federation.forward(servers, {
    type,
    id: context.id,
    data,
    sender: context.sender,
    origin: context.origin ?? null,
    hops: context.hops ?? 0,
  });
  const first = result.failed[0];
  if (first === undefined) return { good: true, servers: result.servers };
  const reason = result.failed.map((f) => `${f.target}: ${f.reason}`).join('; ');
  return { good: false, code: first.code, reason, servers: result.servers };
}

function bad(code: ErrorCode, reason: string): Outcome {
  return { good: false, code, reason };
}
