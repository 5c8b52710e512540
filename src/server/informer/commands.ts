// The informer's commands (docs/protocol.md §9.4): what each answers, from a small context object.
// The informer sees this daemon's sessions through the SessionRegistry and, when the daemon is one
// node of a cluster, the other nodes' through presence (docs/scaling.md).
import { deliveryJson } from '../../protocol/builders.ts';
import { JsonData } from '../../protocol/json-text.ts';
import { usernameKey } from '../../protocol/username.ts';
import type { ServerConfig } from '../config/types.ts';
import type { HandlerProtocolStatus } from '../handlers/handler-pool.ts';
import type { HandlerStatus } from '../handlers/supervisor.ts';
import type { ReloadResult } from '../reload.ts';
import type { Logger } from '../log.ts';
import type { Presence } from '../presence/presence.ts';
import { deliverToUsers } from '../routing/delivery.ts';
import { recipients } from '../routing/route-plan.ts';
import type { SessionRegistry } from '../session/registry.ts';
import { failure, parseSendClients, success, type InformerAnswer, type InformerRequest } from './request.ts';

export interface InformerContext {
  readonly registry: SessionRegistry;
  readonly config: ServerConfig;
  /** The daemon's listeners, in config order. */
  readonly listeners: () => readonly { readonly address: string }[];
  /** Each handler's process state, its calls in progress now, and the protocol the daemon speaks with it. */
  readonly handlerStatus: () => ReadonlyArray<HandlerStatus & { readonly inFlight: number } & HandlerProtocolStatus>;
  /** Federation state: node id, links, messages waiting per peer, counters (docs/federation.md §8). */
  readonly federationStatus: () => unknown;
  /** Deliveries kept for offline users: `{stored: <messages waiting>}` (docs/protocol.md §4.3.1). */
  readonly offlineStatus?: () => unknown;
  /** Connections closed so far, by reason: `{"login_timeout": 3, ...}` (docs/protocol.md §9.4.3). */
  readonly closeCounts?: () => Record<string, number>;
  /** Logins by outcome and client messages by outcome so far (§9.4.3), counted from the core's events. */
  readonly activityCounts?: () => { readonly logins: Record<string, number>; readonly messages: Record<string, number> };
  /** One node of a cluster: listClients, isClient and serverInfo answer for every node (presence). */
  readonly cluster?: { readonly nodeId: string; readonly presence: Presence } | undefined;
  readonly startedAt: Date;
  /** The daemon's version (package.json). */
  readonly version: string;
  readonly logger: Logger;
  /** §9.4.6 (ours): reloads the configuration (absent: the command is unknown). */
  readonly reload?: () => Promise<ReloadResult>;
  /** §9.4.7 (ours): restarts one handler's process now; false when the daemon does not run it. */
  readonly restartHandler?: (type: string) => Promise<boolean>;
}

export interface CommandResult {
  readonly answer: InformerAnswer;
  /** Close the connection once the answer is sent (`quit`). */
  readonly close?: boolean;
}

type Command = (ctx: InformerContext, data: unknown) => CommandResult | Promise<CommandResult>;

export const SEND_CLIENTS_DISABLED = "sendClients through the informer is disabled by the server's configuration";
export const CONTROL_DISABLED = "reload and restartHandler through the informer are disabled by the server's configuration (informer.allowControl)";

// A Map, so that a command named "__proto__" or "constructor" is simply unknown.
const COMMANDS = new Map<string, Command>([
  ['listClients', async (ctx) => ({ answer: success(await listClients(ctx)) })],
  ['isClient', isClient],
  ['serverInfo', async (ctx) => ({ answer: success({ ...serverInfo(ctx), ...(await clusterInfo(ctx)) }) })],
  ['quit', () => ({ answer: success(null), close: true })],
  ['sendClients', sendClients],
  ['reload', reload],
  ['restartHandler', restartHandler],
]);

export function runCommand(ctx: InformerContext, request: InformerRequest): CommandResult | Promise<CommandResult> {
  const command = COMMANDS.get(request.type);
  if (command === undefined) {
    const known = [...COMMANDS.keys()].join(', ');
    return { answer: failure(`unknown command ${JSON.stringify(request.type)} (known: ${known})`) };
  }
  return command(ctx, request.data);
}

/**
 * §9.4.1: the users connected, sorted. In a cluster, on any node: this daemon's (exact now) and the
 * others' from presence; when presence cannot answer, this daemon's alone (logged).
 */
async function listClients(ctx: InformerContext): Promise<string[]> {
  const local = ctx.registry.users();
  if (ctx.cluster === undefined) return local;
  const everywhere = await fromPresence(ctx, () => ctx.cluster!.presence.users(), []);
  return [...new Set([...local, ...everywhere])].sort();
}

/** §9.4.2: true when the user holds at least one client connection (the original answered the opposite); in a cluster, on any node. */
async function isClient(ctx: InformerContext, data: unknown): Promise<CommandResult> {
  if (typeof data !== 'string') return { answer: failure('isClient data must be a username (a string)') };
  const user = usernameKey(data);
  if (ctx.registry.isOnline(user) || ctx.cluster === undefined) return { answer: success(ctx.registry.isOnline(user)) };
  return { answer: success((await fromPresence(ctx, () => ctx.cluster!.presence.nodesOf(user), [])).length > 0) };
}

/** §9.4.3 (ours) in a cluster: `cluster: {nodeId, sessions, users, nodes: {node: sessions}}` for every node. */
async function clusterInfo(ctx: InformerContext): Promise<Record<string, unknown>> {
  const cluster = ctx.cluster;
  if (cluster === undefined) return {};
  const [sessions, users, nodes] = await Promise.all([
    fromPresence(ctx, () => cluster.presence.count(), null),
    fromPresence(ctx, () => cluster.presence.users(), null),
    fromPresence(ctx, () => cluster.presence.sessionsPerNode(), null),
  ]);
  return { cluster: { nodeId: cluster.nodeId, sessions, users: users === null ? null : users.length, nodes } };
}

async function fromPresence<T>(ctx: InformerContext, read: () => Promise<T>, fallback: T): Promise<T> {
  try {
    return await read();
  } catch (err) {
    ctx.logger.warn({ err }, 'informer: presence did not answer; answering for this node only');
    return fallback;
  }
}

/** §9.4.3: the original's three fields, with their original types, then ours. */
function serverInfo(ctx: InformerContext): Record<string, unknown> {
  const { registry, config, startedAt } = ctx;
  const listeners: Record<string, { address: string }> = {};
  ctx.listeners().forEach((listener, index) => {
    listeners[`listener${index}`] = { address: listener.address };
  });
  return {
    clientCount: String(registry.connectionCount),
    adminInfo: config.adminInfo,
    listeners,
    version: ctx.version,
    startedAt: startedAt.toISOString(),
    uptimeSeconds: Math.floor((Date.now() - startedAt.getTime()) / 1000),
    connections: registry.connectionCount,
    users: registry.users().length,
    handlers: ctx.handlerStatus().map(({ type, state, pid, restarts, managed, inFlight, protocol, connections }) => ({
      type,
      state,
      pid,
      restarts,
      managed,
      inFlight,
      protocol,
      connections,
    })),
    informer: config.informer.path,
    federation: ctx.federationStatus(),
    ...(ctx.offlineStatus ? { offline: ctx.offlineStatus() } : {}),
    ...(ctx.closeCounts ? { closes: ctx.closeCounts() } : {}),
    ...(ctx.activityCounts ? ctx.activityCounts() : {}),
  };
}

/**
 * §9.4.5 (ours): the normal delivery frame to every connection of the named users. Nothing is kept
 * for users who are offline (unlike a handler's sendClients, §4.3.1): they are answered undelivered.
 */
function sendClients(ctx: InformerContext, data: unknown): CommandResult {
  if (!ctx.config.informer.allowSendClients) return { answer: failure(SEND_CLIENTS_DISABLED) };
  const parsed = parseSendClients(data);
  if (!parsed.ok) return { answer: failure(parsed.error) };
  const { users, type } = parsed.value;
  const result = deliverToUsers(ctx.registry, recipients(users), deliveryJson(type, new JsonData(parsed.value.data)));
  ctx.logger.debug({ type, delivered: result.delivered.length, undelivered: result.undelivered.length }, 'informer sendClients');
  return { answer: success({ delivered: result.delivered, undelivered: result.undelivered }) };
}

/**
 * §9.4.6 (ours): reads the config file again and applies it (docs/operations.md). Answers
 * `{applied, restartNeeded}`, or a failure listing the config's errors (the running one is kept).
 */
async function reload(ctx: InformerContext): Promise<CommandResult> {
  if (ctx.reload === undefined) return { answer: failure('reload is not available on this server') };
  if (!ctx.config.informer.allowControl) return { answer: failure(CONTROL_DISABLED) };
  const result = await ctx.reload();
  if (!result.ok) return { answer: failure(`the configuration was refused, the running one is kept:\n${result.errors.join('\n')}`) };
  return { answer: success({ applied: result.applied, restartNeeded: result.restartNeeded }) };
}

/** §9.4.7 (ours): `data` is a handler type; answers true once its new process was started. */
async function restartHandler(ctx: InformerContext, data: unknown): Promise<CommandResult> {
  if (ctx.restartHandler === undefined) return { answer: failure('restartHandler is not available on this server') };
  if (!ctx.config.informer.allowControl) return { answer: failure(CONTROL_DISABLED) };
  if (typeof data !== 'string') return { answer: failure('restartHandler data must be a handler type (a string)') };
  if (!(await ctx.restartHandler(data))) {
    const why = ctx.config.handlers.has(data) ? 'the daemon does not start it (it has no handlerBinary)' : 'no handler of that type is configured';
    return { answer: failure(`cannot restart handler ${JSON.stringify(data)}: ${why}`) };
  }
  return { answer: success(true) };
}
