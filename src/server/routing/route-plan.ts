// Routing decides (docs/architecture.md, STYLE.md #5): a handler's answer becomes a plan saying
// where its result goes (docs/protocol.md §4.2, §4.3). Pure: no sockets, no stores, no clock; the
// deliverers (delivery.ts) carry plans out, the router (router.ts) walks sendHandler chains.
import type { ErrorCode } from '../../protocol/errors.ts';
import { parseHandlerReply } from '../../protocol/handler-reply.ts';
import { JsonData } from '../../protocol/json-text.ts';
import { usernameKey } from '../../protocol/username.ts';

/** Where one message's result goes, or why it goes nowhere. */
export type RoutePlan =
  /**
   * §4.3.1 sendClients: these users (trimmed, each once, in the handler's order) get `data` as a
   * `type` delivery (the handler's type); `messageType` is the type the sender gave the message.
   */
  | {
      readonly kind: 'deliver';
      readonly users: readonly string[];
      readonly type: string;
      readonly messageType: string;
      readonly data: JsonData;
    }
  /** §4.3.2 sendServers: the message, under the type its sender gave it, goes to these peers. */
  | { readonly kind: 'forward'; readonly servers: readonly string[]; readonly type: string; readonly data: JsonData }
  /** §4.3.3 sendHandler: `data` goes on to the handler for `handler`. */
  | { readonly kind: 'handler'; readonly handler: string; readonly data: JsonData }
  /** The answer cannot be carried out; the sender is told `code` and `reason`. */
  | { readonly kind: 'refuse'; readonly code: ErrorCode; readonly reason: string };

export interface PlanContext {
  /** The handler that answered (the type of the delivery, named in reasons). */
  readonly handlerType: string;
  /** The type the sender gave the message (what travels to peers, docs/federation.md §3.3). */
  readonly messageType: string;
  /** sendHandler hops taken before this answer, and how many are allowed (limits.maxHandlerHops). */
  readonly hops: number;
  readonly maxHops: number;
  /** Whether a handler for a type is configured. */
  readonly hasHandler: (type: string) => boolean;
}

/** A plan, plus the lenient reading the original needed for it, if any (logged by the caller). */
export interface Planned {
  readonly plan: RoutePlan;
  readonly quirk: string | null;
}

/**
 * The plan for a handler's answer: a JsonData (its text, when it came from a frame, is sliced so
 * the result is passed on as the handler wrote it) or a bare value.
 */
export function planRoute(answer: unknown, context: PlanContext): Planned {
  const replyData = answer instanceof JsonData ? answer : new JsonData(answer);
  // Shallow: a big result may have been left as text (parseFrameText's lazy); `member` hands it on as such.
  const reply = parseHandlerReply(replyData.shallowValue);
  if (!reply.ok) return { plan: refuse(reply.code, `handler ${JSON.stringify(context.handlerType)}: ${reply.reason}`), quirk: null };
  const data = replyData.member(reply.dataPath, reply.data);
  const { command } = reply;
  switch (command.kind) {
    case 'sendClients':
      return {
        plan: { kind: 'deliver', users: recipients(command.users), type: context.handlerType, messageType: context.messageType, data },
        quirk: reply.quirk,
      };
    case 'sendServers':
      return { plan: { kind: 'forward', servers: command.servers, type: context.messageType, data }, quirk: reply.quirk };
    case 'sendHandler': {
      if (context.hops + 1 > context.maxHops) {
        return { plan: refuse('handler_chain_too_long', `handler chain longer than ${context.maxHops} sendHandler hops`), quirk: null };
      }
      if (!context.hasHandler(command.handler)) {
        return { plan: refuse('unknown_type', `sendHandler named ${JSON.stringify(command.handler)}, which has no handler`), quirk: null };
      }
      return { plan: { kind: 'handler', handler: command.handler, data }, quirk: reply.quirk };
    }
  }
}

/**
 * §4.3.1: names in their canonical form (§2.6: `Bob` is bob), each once (the original sent a name
 * listed twice twice).
 */
export function recipients(users: readonly string[]): readonly string[] {
  if (users.length === 1) {
    const key = usernameKey(users[0]!);
    return key === users[0] ? users : [key];
  }
  return [...new Set(users.map(usernameKey))];
}

export function refuse(code: ErrorCode, reason: string): RoutePlan {
  return { kind: 'refuse', code, reason };
}
