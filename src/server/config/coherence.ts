// Checks across blocks, after each block was read on its own (docs/configuration.md "Checked
// together"): settings that let other local users in are warned about; limits that contradict each
// other are refused, naming both keys. Each rule says what would happen if it were let through.
import type { ServerConfig } from './types.ts';
import type { Checker } from './validate.ts';

/** Bytes a delivery frame adds around a handler's result (header, type, length prefix): generous. */
const DELIVERY_OVERHEAD = 4096;

export function checkCoherence(c: Checker, config: Omit<ServerConfig, 'configPath' | 'baseDir'>): void {
  const { limits, informer, offline } = config;
  // Group or other bits on a socket file let other local users connect.
  if (informer.enabled && (informer.mode & 0o077) !== 0) {
    const who = (informer.mode & 0o007) !== 0 ? 'every local user' : "the socket's group";
    const powers = [
      ...(informer.allowSendClients ? ['deliver to any user (informer.allowSendClients)'] : []),
      ...(informer.allowControl ? ['reload it and restart its handlers (informer.allowControl)'] : []),
    ];
    const send = powers.length > 0 ? ` and ${powers.join(' and ')}` : '';
    c.warn('informer.mode', `${octal(informer.mode)} lets ${who} query the daemon${send}; use 0600 unless that is meant`);
  }
  for (const [i, listener] of config.listeners.entries()) {
    if (listener.kind !== 'unix' || (listener.mode & 0o007) === 0) continue;
    c.warn('network.unix.mode', `${octal(listener.mode)} (listener ${i}) lets every local user connect to the client socket (a password is still needed); use 0600 or 0660 unless that is meant`);
  }
  // A delivery as large as the largest handler result would cut every recipient as a slow consumer.
  if (limits.maxOutboundBytes < limits.maxHandlerFrameBytes + DELIVERY_OVERHEAD) {
    c.error('limits.maxOutboundBytes', `${limits.maxOutboundBytes} is smaller than the largest delivery (limits.maxHandlerFrameBytes ${limits.maxHandlerFrameBytes} plus ${DELIVERY_OVERHEAD} bytes of frame): every recipient of such a result would be cut off as a slow consumer`);
  }
  if (limits.maxLoginFrameBytes > limits.maxFrameBytes) {
    c.error('limits.maxLoginFrameBytes', `${limits.maxLoginFrameBytes} is larger than limits.maxFrameBytes (${limits.maxFrameBytes}): a login frame may not be larger than any frame`);
  }
  if (limits.maxFrameBytes > limits.maxHandlerFrameBytes) {
    c.warn('limits.maxFrameBytes', `${limits.maxFrameBytes} is larger than limits.maxHandlerFrameBytes (${limits.maxHandlerFrameBytes}): a handler that answers with what a client sent can pass its reply limit`);
  }
  if (limits.maxUnauthenticated > limits.maxConnections) {
    c.error('limits.maxUnauthenticated', `${limits.maxUnauthenticated} is larger than limits.maxConnections (${limits.maxConnections}): logged-in users would have no slots of their own`);
  }
  if (limits.loginChecks.maxPerAddress > limits.loginChecks.maxRunning + limits.loginChecks.maxWaiting) {
    c.warn('limits.loginChecks.maxPerAddress', `${limits.loginChecks.maxPerAddress} is more than maxRunning + maxWaiting (${limits.loginChecks.maxRunning + limits.loginChecks.maxWaiting}): one address can fill the queue of password checks`);
  }
  if (offline.enabled && offline.maxBytesPerUser > offline.maxBytes) {
    c.error('offline.maxBytesPerUser', `${offline.maxBytesPerUser} is larger than offline.maxBytes (${offline.maxBytes}), the total for all users`);
  }
  if (offline.enabled && offline.maxBytesPerUser < limits.maxHandlerFrameBytes + DELIVERY_OVERHEAD) {
    c.warn('offline.maxBytesPerUser', `${offline.maxBytesPerUser} is smaller than the largest delivery (limits.maxHandlerFrameBytes plus frame): such a delivery to a user who is offline is never kept`);
  }
}

/**
 * Passwords in clear text over a network (docs/security.md, "TLS"): a plain tcp4/tcp6/ws listener on
 * an address other than loopback, while network.requireTls is off. Allowed (the original's clients
 * speak plain TCP), but said at every start (the daemon logs it) and by `besterd --check`. Kept out
 * of the load's warnings, which list what is wrong in the file itself.
 */
export function plainTextWarnings(config: Pick<ServerConfig, 'listeners' | 'requireTls'>): string[] {
  if (config.requireTls) return [];
  return config.listeners.flatMap((listener) => {
    if ((listener.kind !== 'tcp4' && listener.kind !== 'tcp6' && listener.kind !== 'ws') || isLoopback(listener.host)) return [];
    // A ws listener is plain HTTP: the same, with wss as the way out (docs/security.md, "WebSocket and Origin").
    const instead = listener.kind === 'ws' ? 'a wss listener' : 'a tls4/tls6 listener';
    return [`network.${listener.kind}: listens on ${listener.host}, not only on this machine, and passwords cross it in clear text; use ${instead}, or set network.requireTls to refuse password logins on plain TCP`];
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host) || /^::ffff:127\./i.test(host);
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
