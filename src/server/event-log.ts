// The log as a listener of the core's events (events.ts, STYLE.md #10): what the message path
// reports is written here, once, at the level an operator expects.
import type { ServerEvents } from './events.ts';
import type { Logger } from './log.ts';

/** Starts logging `events` to `logger`; returns the function that stops. */
export function logEvents(events: ServerEvents, logger: Logger): () => void {
  const sessions = logger.child({ component: 'session' });
  const off = [
    events.on('connection.opened', (e) => sessions.debug({ conn: e.id, remote: e.remote }, 'connection opened')),
    events.on('connection.refused', (e) => sessions.info({ remote: e.remote, code: e.code, reason: e.reason }, 'connection refused')),
    events.on('transport.refused', (e) => sessions.warn({ transport: e.transport, remote: e.remote, reason: e.reason }, 'connection refused by its transport')),
    events.on('connection.closed', (e) => sessions.debug({ conn: e.id, user: e.user, wasLoggedIn: e.loggedIn, reason: e.reason }, 'connection closed')),
    events.on('login', (e) => {
      const fields = { conn: e.id, remote: e.remote, user: e.user, ...(e.code !== undefined ? { code: e.code } : {}) };
      if (e.outcome === 'ok') sessions.info(fields, 'logged in');
      else if (e.outcome === 'throttled') sessions.warn(fields, 'login throttled');
      else if (e.outcome === 'busy') sessions.warn(fields, 'login answered busy: too many password checks waiting');
      else if (e.outcome === 'error') sessions.error(fields, 'account store failed during login');
      else sessions.info(fields, e.outcome === 'failed' ? 'login failed' : 'login refused');
    }),
    events.on('peer.link', (e) => logger.debug({ component: 'federation', peer: e.peer, state: e.state }, 'peer link state')),
  ];
  return () => {
    for (const stop of off) stop();
  };
}
