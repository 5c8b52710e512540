// Dispatch of a message to its handler and the carrying-out of the handler's reply
// (docs/protocol.md §4). Deciding is in protocol/handler-reply.ts; this walks the chain.
import { BesterError, type ErrorCode } from '../../protocol/errors.ts';
import { parseHandlerReply } from '../../protocol/handler-reply.ts';
import type { HandlerConfig, LimitsConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { SessionRegistry } from '../session/registry.ts';
import { deliverToUsers } from './delivery.ts';

export type HandlerCaller = (
  handler: HandlerConfig,
  data: unknown,
  options: { timeoutMs: number; maxReplyBytes: number; signal?: AbortSignal },
) => Promise<unknown>;

/** What the sender is told about one message (§3.3). */
export type Outcome =
  | { readonly good: true; readonly undelivered?: undefined }
  | { readonly good: false; readonly code: ErrorCode; readonly reason: string; readonly undelivered?: readonly string[] };

export interface RouterOptions {
  readonly handlers: ReadonlyMap<string, HandlerConfig>;
  readonly limits: LimitsConfig;
  readonly registry: SessionRegistry;
  readonly callHandler: HandlerCaller;
  readonly logger: Logger;
  /** Aborted on shutdown: calls in flight end with 'shutting_down'. */
  readonly signal?: AbortSignal;
}

export class Router {
  readonly #o: RouterOptions;

  constructor(options: RouterOptions) {
    this.#o = options;
  }

  /** Runs a message through its handler chain and carries out the final command. Never rejects. */
  /**
   * `sender` is the logged-in user (null for a legacy server-scope message); handlers whose
   * config says `"input": "envelope"` receive it with the data (§4.4).
   */
  async dispatch(type: string, data: unknown, context: { sender: string | null; id: string | null }): Promise<Outcome> {
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
          return bad('federation_unavailable', 'sendServers (federation) is not available in this version yet');
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

function bad(code: ErrorCode, reason: string): Outcome {
  return { good: false, code, reason };
}
