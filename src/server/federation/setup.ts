// Builds the daemon's federation from its config: the durable store (in the daemon's SQLite
// file, or in Redis when the database is Redis), the node id, the lease on each peer's link when
// the daemon is one node of a cluster (docs/scaling.md "Federation from a cluster"), and the glue
// to the router (inbound messages) and to local users (a sender told that a message expired in
// the outbox). docs/federation.md.
import { deliveryJson } from '../../protocol/builders.ts';
import { BesterError } from '../../protocol/errors.ts';
import type { PeerMessage } from '../../protocol/federation.ts';
import { encodeJsonFrame } from '../../protocol/frame.ts';
import type { JsonData } from '../../protocol/json-text.ts';
import type { ServerConfig } from '../config/types.ts';
import type { ServerEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { DispatchContext, Outcome } from '../routing/router.ts';
import type { SessionRegistry } from '../session/registry.ts';
import type { FederationOutbox } from '../storage/federation-outbox.ts';
import { SqliteFederationOutbox } from '../storage/sqlite-federation-outbox.ts';
import { storePath } from '../storage/store-path.ts';
import { Federation } from './federation.ts';
import { clusterOwnership, type ClusterOwnership } from './cluster-ownership.ts';

/** The delivery type a sender receives when a message for another server could not be delivered. */
export const FEDERATION_NOTICE_TYPE = 'bester.federation';

export interface FederationSetup {
  readonly federation: Federation;
  /** Idempotent. Closes the outbox if this opened it. */
  close(): Promise<void>;
}

export async function setupFederation(options: {
  config: ServerConfig;
  registry: SessionRegistry;
  logger: Logger;
  /** Late-bound: the router is built with this federation. */
  dispatch: (type: string, data: JsonData, context: DispatchContext) => Promise<Outcome>;
  /** Use this outbox instead of the daemon's SQLite file (tests, embedders); not closed by close(). */
  outbox?: FederationOutbox;
  /** The core's events: `peer.link` when a link changes state. */
  events?: ServerEvents;
}): Promise<FederationSetup> {
  const { config, registry } = options;
  const logger = options.logger;
  const store = options.outbox ?? (await openOutbox(config, logger));
  let nodeId: string;
  let waiting: Record<string, number>;
  let cluster: ClusterOwnership | null = null;
  try {
    nodeId = config.federation.nodeId ?? (await store.nodeId());
    waiting = await store.waiting();
    if (!options.outbox) cluster = await clusterOwnership(config, logger, () => federation);
  } catch (err) {
    if (!options.outbox) await store.close();
    throw err;
  }
  const federation = new Federation({
    config: config.federation,
    nodeId,
    store,
    waiting,
    maxFrameBytes: config.limits.maxHandlerFrameBytes,
    maxJsonDepth: config.limits.maxJsonDepth,
    logger,
    ...(options.events ? { events: options.events } : {}),
    ...(cluster ? { ownership: cluster.ownership } : {}),
    dispatch: async (message: PeerMessage, from: string) => {
      // The data keeps its text from the link frame: the handler gets it without serialising it again.
      const outcome = await options.dispatch(message.type, message.data, {
        sender: message.sender,
        id: message.id,
        origin: message.origin,
        hops: message.hops,
      });
      if (!outcome.good && outcome.code === 'shutting_down') {
        // docs/protocol.md §3.6: not carried out, so not acknowledged: the peer sends it again after our restart.
        throw new BesterError('shutting_down', 'the server is shutting down; the peer will send the message again');
      }
      if (outcome.good) logger.debug({ from, id: message.id, type: message.type }, 'peer message carried out');
      else logger.warn({ from, id: message.id, type: message.type, code: outcome.code, reason: outcome.reason }, 'peer message failed here');
    },
    onUndeliverable: (entry, reason) => {
      // Only a sender on this server can be told; a message relayed for another server is logged.
      if (entry.origin !== nodeId || entry.sender === null) return;
      const frame = encodeJsonFrame(
        deliveryJson(FEDERATION_NOTICE_TYPE, { event: 'undeliverable', server: entry.peer, id: entry.msgId, type: entry.type, reason }),
      );
      if (!registry.sendTo(entry.sender, frame)) logger.warn({ sender: entry.sender, id: entry.msgId }, 'could not tell the sender about an expired message: not connected');
    },
  });
  try {
    await cluster?.start();
  } catch (err) {
    federation.close();
    await cluster?.close();
    if (!options.outbox) await store.close();
    throw err;
  }
  logger.info({ nodeId, peers: [...config.federation.peers.keys()] }, 'federation ready');
  let closing: Promise<void> | null = null;
  return {
    federation,
    close: () => {
      closing ??= (async () => {
        federation.close();
        await cluster?.close(); // gives the leases up: another node takes the links at once
        if (!options.outbox) await store.close();
      })();
      return closing;
    },
  };
}

/** The outbox the config names: in Redis when the database is Redis (shared by a cluster's nodes), else in the SQLite file. */
async function openOutbox(config: ServerConfig, logger: Logger): Promise<FederationOutbox> {
  if (config.accounts.kind !== 'redis') return new SqliteFederationOutbox(storePath(config));
  const { openRedisFederationOutbox } = await import('../redis/open.ts');
  return openRedisFederationOutbox(config.accounts, logger);
}
