// What a message looks like on a peer link (docs/federation.md §3.2), and whether a peer with given
// limits can read it (finding 2 of issue 15: a frame the receiver refuses would drop the link at
// every reconnect). Used when a message is queued (our limits) and when it is sent (the peer's).
import { encodeFrame, FRAME_HEADER_BYTES } from '../../protocol/frame.ts';
import { seal, valueDepth } from '../../protocol/federation.ts';
import type { OutboxEntry } from '../storage/federation-outbox.ts';

export interface LinkLimits {
  readonly maxFrameBytes: number;
  readonly maxJsonDepth: number;
}

/**
 * Why a message cannot travel on a link to a peer with these limits (finding 2 of issue 15), or null.
 * `frameBytes` is the sealed frame's size; the data sits two levels down in it (frame, payload).
 */
export function linkFrameProblem(frameBytes: number, data: unknown, limits: LinkLimits): string | null {
  if (frameBytes > limits.maxFrameBytes) {
    return `as a link frame it takes ${frameBytes} bytes; the peer reads at most ${limits.maxFrameBytes} (limits.maxHandlerFrameBytes)`;
  }
  if (2 + valueDepth(data, limits.maxJsonDepth) > limits.maxJsonDepth) {
    return `as a link frame its data nests deeper than ${limits.maxJsonDepth} levels (limits.maxJsonDepth)`;
  }
  return null;
}

export function messagePayload(entry: OutboxEntry): Record<string, unknown> {
  return {
    type: entry.type,
    id: entry.msgId,
    data: entry.data,
    origin: entry.origin,
    seq: entry.seq,
    hops: entry.hops,
    sender: entry.sender,
  };
}

/**
 * Why `entry` could not travel to `peer` under `limits`, or null: the sealed frame is built as it
 * will be, with the largest seq it could get (renumbering, §3.6, never makes it longer than that).
 */
export function entryProblem(
  entry: Omit<OutboxEntry, 'seq' | 'createdAt' | 'expiresAt'>,
  link: { secret: string; self: string; peer: string },
  limits: LinkLimits,
): string | null {
  const payload = messagePayload({ ...entry, seq: Number.MAX_SAFE_INTEGER, createdAt: 0, expiresAt: 0 });
  const frame = encodeFrame(seal(link.secret, link.self, link.peer, payload));
  return linkFrameProblem(frame.length - FRAME_HEADER_BYTES, entry.data, limits);
}
