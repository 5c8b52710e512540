// Sequence numbers that cannot be rewound silently (docs/federation.md §3.6, finding 3 of issue 15).
// A welcome's lastSeq is believed only as far as this outbox can vouch for it: the receiver names the
// fingerprint of the last message it processed, and we compare it with what we sent under that seq
// (the outbox entry if it is still waiting, or the acknowledged mark). A receiver ahead of what we can
// vouch for (we were restored from a backup, a peer pushed its count ahead, or it lies) gets our
// waiting messages renumbered past its count: nothing is dropped as acknowledged that it did not process.
import { payloadDigest, type WelcomeTerms } from '../../protocol/federation.ts';
import type { Logger } from '../log.ts';
import type { FederationOutbox, OutboxEntry } from '../storage/federation-outbox.ts';
import { messagePayload } from './link-frame.ts';

/** The highest lastSeq a welcome may claim and still be believed enough to renumber past it. */
export const MAX_CLAIMED_SEQ = 2 ** 50;

export interface Reconciling {
  readonly store: FederationOutbox;
  readonly peer: string;
  readonly terms: WelcomeTerms;
  readonly log: Logger;
  readonly count: (name: string) => void;
  readonly onAck: (entry: { peer: string; seq: number }) => void;
  /** Whether the connection that got the welcome is still the link's. */
  readonly current: () => boolean;
}

/**
 * Settles the outbox with a welcome: messages the peer vouchably processed are acknowledged, or the
 * waiting ones renumbered past its count. Resolves null when the link may go up, or why it may not.
 */
export async function reconcileWelcome(o: Reconciling): Promise<string | null> {
  const { store, peer, terms, log, count, onAck, current } = o;
  const last = terms.lastSeq;
  const mark = await store.outboundMark(peer);
  let vouched: OutboxEntry | null = null;
  let verdict: 'ok' | 'ahead' | 'forgot';
  if (last < mark.acked) verdict = 'forgot';
  else if (last === mark.acked) verdict = terms.digest === '' || mark.digest === '' || terms.digest === mark.digest ? 'ok' : 'ahead';
  else {
    // Processed by the peer and not acknowledged yet: still waiting here, with the same fingerprint.
    const [entry] = await store.pending(peer, last - 1, 1);
    const same = entry !== undefined && entry.seq === last && (terms.digest === '' || digestOf(entry) === terms.digest);
    verdict = same ? 'ok' : 'ahead';
    if (same) vouched = entry;
  }
  if (!current()) return null;
  if (verdict === 'forgot') {
    // The peer lost what it had processed (restored?): what it acknowledged is gone from here; the rest is sent.
    count('peer_forgot');
    log.warn({ lastSeq: last, acked: mark.acked }, 'the peer remembers fewer messages than it acknowledged');
    return null;
  }
  if (verdict === 'ahead') {
    count('seq_diverged');
    if (last > MAX_CLAIMED_SEQ) return `the peer claims to have processed seq ${last}, which this server never sent`;
    const top = await store.renumber(peer, Math.max(last, mark.top), { seq: last, digest: terms.digest });
    log.error(
      { lastSeq: last, ourTop: mark.top, acked: mark.acked, newTop: top },
      'the peer claims a sequence number this server cannot vouch for: waiting messages renumbered past it',
    );
    return null;
  }
  if (last > mark.acked) {
    // Processed by the peer, acknowledgement lost (the link dropped first): out of the outbox now.
    const done = await store.pending(peer, mark.acked, last - mark.acked);
    for (const entry of done) {
      if (entry.seq > last) break;
      await store.acknowledge(peer, entry.seq, entry === vouched ? terms.digest : undefined);
      onAck({ peer, seq: entry.seq });
    }
  }
  return null;
}

/** The fingerprint of an outbox entry as it travels (the receiver computes it from the payload it read). */
export function digestOf(entry: OutboxEntry): string {
  return payloadDigest(JSON.stringify(messagePayload(entry)));
}
