// Carrying out sendClients: every connection of each named user gets the same encoded frame
// (docs/protocol.md §4.3.1). Enqueues only: never waits on one recipient's socket.
import { deliveryJson } from '../../protocol/builders.ts';
import { encodeJsonFrame } from '../../protocol/frame.ts';
import type { JsonData } from '../../protocol/json-text.ts';
import type { SessionRegistry } from '../session/registry.ts';

export interface DeliveryResult {
  /** Names that got the message on at least one connection. */
  readonly delivered: string[];
  /** Names with no open connection here (offline or unknown). */
  readonly undelivered: string[];
}

/**
 * Names are deduplicated: a name listed twice gets the message once (the original sent it twice).
 * `data`'s own text (the handler's) is used as it is. Throws if it has to be serialised and cannot be.
 */
export function deliverToUsers(
  registry: SessionRegistry,
  users: readonly string[],
  type: string,
  data: JsonData,
): DeliveryResult {
  const delivered: string[] = [];
  const undelivered: string[] = [];
  if (users.length === 0) return { delivered, undelivered };
  const names = users.length === 1 ? [users[0]!.trim()] : [...new Set(users.map((u) => u.trim()))];
  const frame = encodeJsonFrame(deliveryJson(type, data));
  for (const name of names) {
    let reached = false;
    for (const session of registry.connectionsOf(name)) {
      if (session.sendFrame(frame)) reached = true;
    }
    (reached ? delivered : undelivered).push(name);
  }
  return { delivered, undelivered };
}
