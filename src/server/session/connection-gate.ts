// Connection caps checked when a connection is accepted (docs/protocol.md §2.5): the total number of
// connections, and connections per remote address that have not logged in yet. The per-user cap is
// checked at login (session.ts). Local UNIX connections have no address and are not limited per address.
import net from 'node:net';
import type { LimitsConfig } from '../config/types.ts';
import type { Duplex } from 'node:stream';
import { errorFrame } from '../../protocol/builders.ts';
import { encodeFrame } from '../../protocol/frame.ts';

/**
 * The key remote connections are counted under: the IPv4 address (also when it arrives as an
 * IPv4-mapped IPv6 address), or for IPv6 the /64 prefix, which is what one host or one customer
 * usually holds. null for a connection without an IP address (UNIX socket).
 */
export function addressKey(remoteAddress: string | undefined): string | null {
  if (remoteAddress === undefined || remoteAddress === '') return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (!net.isIPv6(remoteAddress)) return remoteAddress;
  return `${expandIPv6(remoteAddress).slice(0, 4).join(':')}::/64`;
}

/** The eight groups of an IPv6 address, without leading zeros ("::1" -> 0,0,0,0,0,0,0,1). */
function expandIPv6(address: string): string[] {
  const plain = address.split('%')[0] ?? address; // drop a zone id
  const [head = '', tail] = plain.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (::ffff:1.2.3.4 forms other than the mapped one) counts as two groups.
  const last = right.length > 0 ? right : left;
  const v4 = last.at(-1);
  if (v4 !== undefined && v4.includes('.')) {
    const parts = v4.split('.').map(Number);
    last.splice(-1, 1, (((parts[0] ?? 0) << 8) | (parts[1] ?? 0)).toString(16), (((parts[2] ?? 0) << 8) | (parts[3] ?? 0)).toString(16));
  }
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...zeros, ...right].map((group) => (parseInt(group, 16) || 0).toString(16));
}

export class ConnectionGate {
  #limits: LimitsConfig;
  readonly #pendingByAddress = new Map<string, number>();

  constructor(limits: LimitsConfig) {
    this.#limits = limits;
  }

  /** A reload changed the limits: they apply to the next connection. */
  reconfigure(limits: LimitsConfig): void {
    this.#limits = limits;
  }

  /**
   * Whether a new connection may be accepted: null, and it is counted as not logged in yet under its
   * address (call `loggedInOrGone` once when that ends); else the reason for the refusal.
   */
  admit(address: string | null, open: number): string | null {
    if (open >= this.#limits.maxConnections) {
      return `the server has reached its connection limit (limits.maxConnections = ${this.#limits.maxConnections}), try again later`;
    }
    if (address === null) return null;
    const pending = this.#pendingByAddress.get(address) ?? 0;
    if (pending >= this.#limits.maxUnauthenticatedPerAddress) {
      return (
        `too many connections from this address that have not logged in ` +
        `(limits.maxUnauthenticatedPerAddress = ${this.#limits.maxUnauthenticatedPerAddress})`
      );
    }
    this.#pendingByAddress.set(address, pending + 1);
    return null;
  }

  /** A connection admitted under `address` logged in, became a peer link, or closed. Call once. */
  loggedInOrGone(address: string | null): void {
    if (address === null) return;
    const pending = (this.#pendingByAddress.get(address) ?? 0) - 1;
    if (pending > 0) this.#pendingByAddress.set(address, pending);
    else this.#pendingByAddress.delete(address);
  }

  /** Connections not logged in yet from `address` (tests, diagnostics). */
  pending(address: string): number {
    return this.#pendingByAddress.get(address) ?? 0;
  }
}

/** A refused connection gets an error frame saying why (§3.5), then the end; destroyed if the peer does not read it soon. */
export function refuseConnection(socket: Duplex, reason: string): void {
  socket.end(encodeFrame(errorFrame('too_many_connections', reason)));
  socket.resume(); // read and drop whatever it sent, so that its close can complete
  const timer = setTimeout(() => socket.destroy(), 2000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
