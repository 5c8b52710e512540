// Connections whose first frame is server-scope (docs/protocol.md §6.2, docs/federation.md §3),
// taken over from the session that read that frame: a legacy server's one unauthenticated message,
// or a peer opening its sealed link.
import { JsonData } from '../../protocol/json-text.ts';
import type { LimitsConfig } from '../config/types.ts';
import { describeThrown, type Logger } from '../log.ts';
import type { DispatchContext, Outcome } from '../routing/delivery.ts';
import type { ServerScopeAcceptor } from '../session/first-frame.ts';
import type { Federation } from './federation.ts';

export interface ServerScopeOptions {
  readonly federation: Federation;
  readonly limits: LimitsConfig;
  readonly logger: Logger;
  /** Carries a message out without ordering (the router's dispatch). */
  readonly dispatch: (type: string, data: JsonData, context: DispatchContext) => Promise<Outcome>;
}

export function serverScopeAcceptor(options: ServerScopeOptions): ServerScopeAcceptor {
  const { federation, logger } = options;
  return {
    legacy(io, payload) {
      logger.info({ type: payload.type, id: payload.id, remote: io.remote }, 'legacy server message');
      options.dispatch(payload.type, new JsonData(payload.data), { sender: null, id: payload.id }).then(
        (outcome) => {
          if (!outcome.good) logger.warn({ type: payload.type, code: outcome.code, reason: outcome.reason }, 'server message failed');
          io.close('server_message_done');
        },
        (err: unknown) => {
          logger.error({ err: describeThrown(err) }, 'server message failed');
          io.close('server_message_done');
        },
      );
    },
    peer(io, hello, text) {
      // Peer links carry handler results: the handler frame limit applies to them (docs/federation.md §5).
      io.setMaxFrameBytes(options.limits.maxHandlerFrameBytes);
      const linkIo = { send: (v: unknown) => io.send(v), close: () => io.close('peer_link_closed'), pause: () => io.pause(), resume: () => io.resume() };
      const link = federation.acceptInbound(linkIo, hello, io.remote, text);
      if (!link) return null;
      return { frame: (v, b) => link.frame(v, b), closed: () => federation.inboundClosed(link) };
    },
  };
}
