// `npm run config-schema`: docs/server.conf.schema.json, a JSON Schema of server.conf for editors,
// generated from the validator's own rules rather than written beside them. The config parser
// (src/server/config/) checks every key through a Checker; this script records those checks while
// the parser reads a sample that reaches every block (the key lists of each block, integer bounds
// and defaults, booleans, enums, paths), and builds the schema from what was recorded. The few keys
// the parser checks with code of its own (ports, modes, lists) are described in HAND_WRITTEN
// below; a key with neither stops the generation, so a new key cannot be left out.
// test/unit/config-schema.test.ts checks that the file is up to date.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/server/config/load.ts';
import { Checker } from '../src/server/config/validate.ts';

type Schema = Record<string, unknown>;
type Rule =
  | { kind: 'block' }
  | { kind: 'keys'; known: readonly string[] }
  | { kind: 'integer'; min: number; max: number | undefined; fallback: number }
  | { kind: 'boolean'; fallback: boolean }
  | { kind: 'oneOf'; allowed: readonly string[]; fallback: string }
  | { kind: 'text' }
  | { kind: 'path' };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SCHEMA_FILE = path.join(ROOT, 'docs/server.conf.schema.json');
const MAX_INT = 2_147_483_647;

/** Reaches every branch of the parser; `T` and `P` stand for any handler type and any peer name. */
const SAMPLE = {
  network: {
    types: ['unix', 'tcp4', 'tcp6', 'tls4', 'tls6', 'ws', 'wss'],
    requireTls: false,
    unix: { address: 'a.sock', mode: '0600' },
    tcp4: { address: '127.0.0.1', port: 1 },
    tcp6: { address: '::1', port: 2 },
    tls4: { address: '127.0.0.1', port: 5, certificate: 'c.pem', key: 'k.pem', ca: 'ca.pem', clientCertificates: 'request', minVersion: 'TLSv1.2' },
    tls6: { address: '::1', port: 6, certificate: 'c.pem', key: 'k.pem', ca: 'ca.pem', clientCertificates: 'request', minVersion: 'TLSv1.2' },
    ws: { address: '127.0.0.1', port: 3, path: '/bester', origins: ['https://example.org'], static: 'web' },
    wss: { address: '127.0.0.1', port: 4, path: '/bester', origins: ['https://example.org'], static: 'web', certificate: 'c.pem', key: 'k.pem', ca: 'ca.pem', clientCertificates: 'request', minVersion: 'TLSv1.2' },
  },
  handlers: {
    availableTypes: ['T'],
    typeMap: { T: { handlerBinary: './h', unixDomainSocketPath: 'h.sock', handlerArgs: [], timeoutMs: 1, input: 'data', maxInFlight: 1, connections: 1, protocol: 'auto', workingDirectory: '.' } },
  },
  database: { type: 'sqlite', sqlite: { path: 'b.db' } },
  admin: { info: {} },
  limits: { loginFailures: {}, loginChecks: {} },
  supervision: {},
  federation: {
    nodeId: 'n',
    peers: { P: { address: 'h:1', secret: 's', legacy: false, tls: { ca: 'ca.pem', fingerprint: '00'.repeat(32), certificate: 'c.pem', key: 'k.pem', serverName: 'h' } } },
  },
  informer: { enabled: true, path: 'i.sock', mode: '0600', allowSendClients: true, allowControl: true },
  liveness: {},
  offline: {},
  shutdown: {},
  log: { level: 'info' },
};

/** parseMode in src/server/config/network.ts: "0600" (octal digits) or a number 0-511. */
const MODE: Schema = { type: ['string', 'integer'], pattern: '^0?[0-7]{1,3}$', minimum: 0, maximum: 511, default: '0600', description: 'Permissions of the socket file: an octal string such as "0600" (a number is read as decimal).' };

/** Keys the parser checks with code of its own, by generalised path. */
const HAND_WRITTEN: Readonly<Record<string, Schema>> = {
  'network.types': { type: 'array', items: { enum: ['unix', 'tcp4', 'tcp6', 'tls4', 'tls6', 'ws', 'wss'] }, uniqueItems: true, description: 'The listeners to open, in order (default: every block present).' },
  'federation.peers.*.tls.fingerprint': { type: 'string', pattern: '^(sha256:)?([0-9a-fA-F]{2}:?){31}[0-9a-fA-F]{2}$', description: 'SHA-256 fingerprint of the peer\'s certificate: 64 hex digits, colons allowed.' },
  'network.unix.address': { type: 'string', minLength: 1, description: 'Path of the socket file, from the config file\'s folder.' },
  'network.unix.mode': MODE,
  'network.tcp4.port': { type: ['string', 'integer'], pattern: '^[0-9]+$', minimum: 0, maximum: 65535, description: 'The port (a string, as in the original, or a number).' },
  'network.tcp6.port': { type: ['string', 'integer'], pattern: '^[0-9]+$', minimum: 0, maximum: 65535, description: 'The port (a string, as in the original, or a number).' },
  'network.tls4.port': { type: ['string', 'integer'], pattern: '^[0-9]+$', minimum: 0, maximum: 65535, description: 'The port (a string or a number).' },
  'network.tls6.port': { type: ['string', 'integer'], pattern: '^[0-9]+$', minimum: 0, maximum: 65535, description: 'The port (a string or a number).' },
  'network.ws.address': { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address to bind (a host name, an IPv4 or an IPv6 address).' },
  'network.ws.port': { type: ['string', 'integer'], pattern: '^[0-9]+$', minimum: 0, maximum: 65535, description: 'The port of the HTTP server that upgrades to WebSocket.' },
  'network.ws.path': { type: 'string', pattern: '^/[A-Za-z0-9._~!$&\'()*+,;=:@%/-]*$', default: '/bester', description: 'The URL path upgraded to WebSocket (docs/protocol.md §1.5).' },
  'network.ws.origins': { type: 'array', items: { type: 'string', pattern: '^https?://[^/\\s]+$' }, default: [], description: 'Browser origins allowed besides the listener\'s own (docs/security.md).' },
  'network.ws.static': { type: ['string', 'null'], minLength: 1, default: null, description: 'A folder served over HTTP on the same port, from the config file\'s folder; null: none.' },
  'network.wss.address': { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address to bind (a host name, an IPv4 or an IPv6 address).' },
  'network.wss.port': { type: ['string', 'integer'], pattern: '^[0-9]+$', minimum: 0, maximum: 65535, description: 'The port of the HTTP server that upgrades to WebSocket.' },
  'network.wss.path': { type: 'string', pattern: '^/[A-Za-z0-9._~!$&\'()*+,;=:@%/-]*$', default: '/bester', description: 'The URL path upgraded to WebSocket (docs/protocol.md §1.5).' },
  'network.wss.origins': { type: 'array', items: { type: 'string', pattern: '^https?://[^/\\s]+$' }, default: [], description: 'Browser origins allowed besides the listener\'s own (docs/security.md).' },
  'network.wss.static': { type: ['string', 'null'], minLength: 1, default: null, description: 'A folder served over HTTP on the same port, from the config file\'s folder; null: none.' },
  'handlers.availableTypes': { type: 'array', items: { type: 'string', minLength: 1, maxLength: 128 }, uniqueItems: true, description: 'The message types served.' },
  'handlers.typeMap.*.handlerBinary': { type: ['string', 'null'], description: 'The program the daemon starts; absent, null or "": run by someone else.' },
  'handlers.typeMap.*.handlerArgs': { type: 'array', items: { type: 'string' }, default: [], description: 'Arguments put before the socket path.' },
  'handlers.typeMap.*.input': { enum: ['data', 'envelope'], default: 'data' },
  'handlers.typeMap.*.protocol': { enum: ['auto', 'original', 'multiplex'], default: 'auto' },
  'handlers.typeMap.*.maxInFlightPerUser': { type: 'integer', minimum: 1, description: 'Calls one user may have in progress (default: a quarter of maxInFlight, at most maxInFlight).' },
  'limits.maxUnauthenticated': { type: 'integer', minimum: 1, description: 'Connections not logged in yet, on all listeners (default: a fifth of maxConnections, at least 100 or maxConnections when smaller).' },
  'database.type': { enum: ['sqlite', 'redis'], default: 'sqlite', description: '"redis": accounts and kept messages in Redis (docs/scaling.md).' },
  'database.redis': {
    type: 'object',
    description: 'With "type": "redis": the original\'s {"address", "port"}, or {"url"}; docs/scaling.md.',
    properties: {
      address: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Redis\'s host name or IP address.' },
      port: { type: ['string', 'integer'], pattern: '^[0-9]+$', minimum: 1, maximum: 65535, default: 6379, description: 'The port (a string, as in the original, or a number).' },
      url: { type: 'string', pattern: '^rediss?://\\S+$', description: 'redis://[user:password@]host:port[/db] instead of address and port.' },
      prefix: { type: 'string', minLength: 1, default: 'bester:', description: 'Prefix of every key Bester writes.' },
      nodeId: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'This daemon\'s name as one node of several sharing this Redis (docs/scaling.md); absent: a daemon alone.' },
      heartbeatMs: { type: 'integer', minimum: 50, maximum: 60000, default: 1000, description: 'How often a node refreshes its heartbeats and looks for dead nodes (docs/scaling.md "Tuning").' },
      expiryMs: { type: 'integer', minimum: 100, maximum: 600000, default: 5000, description: 'A node silent this long is dead; more than twice heartbeatMs (default: 5000 or 5 heartbeats, whichever is longer).' },
      ackTimeoutMs: { type: 'integer', minimum: 100, maximum: 3600000, default: 10000, description: 'How long a publisher waits for a node to acknowledge a delivery; more than expiryMs + heartbeatMs (default: 10000 or twice expiryMs).' },
      cluster: { type: 'array', minItems: 1, items: { type: 'string' }, description: 'A Redis Cluster: "host:port" of some of its masters, instead of url or address and port (docs/scaling.md).' },
      sentinel: {
        type: 'object',
        description: 'Redis behind Sentinel: the master\'s name and some sentinels\' "host:port", instead of url or address and port; the daemon follows a failover by itself (docs/scaling.md "At a Sentinel failover").',
        properties: {
          name: { type: 'string', minLength: 1 },
          nodes: { type: 'array', minItems: 1, items: { type: 'string' } },
          username: { type: 'string', minLength: 1, description: 'ACL user for the master and replicas (needs password or passwordFile).' },
          password: { type: 'string', description: 'Password of the master and replicas (their requirepass or the ACL user\'s).' },
          passwordFile: { type: 'string', minLength: 1, description: 'Instead of password: a file holding it on one line, from the config file\'s folder.' },
          sentinelPassword: { type: 'string', description: 'Password of the Sentinels themselves (their requirepass).' },
          sentinelPasswordFile: { type: 'string', minLength: 1, description: 'Instead of sentinelPassword: a file holding it on one line.' },
        },
        required: ['name', 'nodes'],
        additionalProperties: false,
      },
    },
  },
  'admin.info': { description: 'Any JSON, shown by the informer\'s serverInfo.' },
  'federation.nodeId': { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'This server\'s node id (default: generated and kept in the SQLite file).' },
  'federation.peers.*.address': { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^\\s:[\\]]+):[0-9]+$', description: '"host:port" or "[v6]:port".' },
  'federation.peers.*.secretFile': { type: 'string', minLength: 1, description: 'A file holding the shared secret, from the config file\'s folder.' },
  'informer.mode': MODE,
};

/** Runs the parser on SAMPLE with every Checker method recording what it checks, by key path. */
function recordRules(): Map<string, Rule[]> {
  const rules = new Map<string, Rule[]>();
  const add = (key: string, rule: Rule): void => {
    const general = generalise(key);
    rules.set(general, [...(rules.get(general) ?? []), rule]);
  };
  const proto = Checker.prototype;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back on the prototype, called with .call(this)
  const saved = { unknownKeys: proto.unknownKeys, block: proto.block, integer: proto.integer, boolean: proto.boolean, oneOf: proto.oneOf, text: proto.text, filePath: proto.filePath, socketPath: proto.socketPath };
  try {
    proto.unknownKeys = function (obj, key, known) {
      add(key, { kind: 'keys', known });
      saved.unknownKeys.call(this, obj, key, known);
    };
    proto.block = function (value, key) {
      add(key, { kind: 'block' });
      return saved.block.call(this, value, key);
    };
    proto.integer = function (value, key, fallback, min = 1, max = MAX_INT) {
      add(key, { kind: 'integer', min, max: max === MAX_INT ? undefined : max, fallback });
      return saved.integer.call(this, value, key, fallback, min, max);
    };
    proto.boolean = function (value, key, fallback) {
      add(key, { kind: 'boolean', fallback });
      return saved.boolean.call(this, value, key, fallback);
    };
    proto.oneOf = function <T extends string>(this: Checker, value: unknown, key: string, allowed: readonly T[], fallback: T): T {
      add(key, { kind: 'oneOf', allowed, fallback });
      return saved.oneOf.call(this, value, key, allowed, fallback) as T;
    };
    proto.text = function (value, key, what) {
      add(key, { kind: 'text' });
      return saved.text.call(this, value, key, what);
    };
    proto.filePath = function (value, key) {
      add(key, { kind: 'path' });
      return saved.filePath.call(this, value, key);
    };
    proto.socketPath = function (value, key) {
      add(key, { kind: 'path' });
      return saved.socketPath.call(this, value, key);
    };
    try {
      parseConfig(SAMPLE, { baseDir: '/nonexistent' });
    } catch {
      // The sample's secretFile does not exist: an error, after every rule has been checked.
    }
  } finally {
    Object.assign(proto, saved);
  }
  return rules;
}

/** handlers.typeMap.T.x -> handlers.typeMap.*.x; federation.peers.P.x -> federation.peers.*.x */
function generalise(key: string): string {
  return key.replace(/^handlers\.typeMap\.T\b/, 'handlers.typeMap.*').replace(/^federation\.peers\.P\b/, 'federation.peers.*');
}

function leaf(key: string, rules: readonly Rule[]): Schema {
  const hand = HAND_WRITTEN[key];
  if (hand !== undefined) return hand;
  const rule = rules.find((r) => r.kind !== 'text') ?? rules[0];
  switch (rule?.kind) {
    case 'integer':
      return { type: 'integer', minimum: rule.min, ...(rule.max !== undefined ? { maximum: rule.max } : {}), default: rule.fallback };
    case 'boolean':
      return { type: 'boolean', default: rule.fallback };
    case 'oneOf':
      return { enum: [...rule.allowed], default: rule.fallback };
    case 'path':
      return { type: 'string', minLength: 1, description: 'A path; relative paths resolve from the config file\'s folder.' };
    case 'text':
      return { type: 'string', minLength: 1 };
    default:
      throw new Error(`no rule recorded for ${key}: describe it in HAND_WRITTEN (scripts/config-schema.ts)`);
  }
}

function node(key: string, rules: Map<string, Rule[]>): Schema {
  const here = rules.get(key) ?? [];
  const keys = here.find((r): r is Extract<Rule, { kind: 'keys' }> => r.kind === 'keys');
  const child = (name: string): string => (key === '' ? name : `${key}.${name}`);
  if (keys !== undefined) {
    const properties: Record<string, Schema> = {};
    for (const name of keys.known) properties[name] = node(child(name), rules);
    // The daemon warns about an unknown key and ignores it; an editor flags it as a likely typo.
    return { type: 'object', properties, additionalProperties: false };
  }
  if (here.some((r) => r.kind === 'block') && rules.has(child('*'))) {
    return { type: 'object', additionalProperties: node(child('*'), rules) };
  }
  if (here.some((r) => r.kind === 'block') && HAND_WRITTEN[key] === undefined) return { type: 'object' };
  return leaf(key, here);
}

export function configSchema(): Schema {
  const rules = recordRules();
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://github.com/besterprotocol/bester/docs/server.conf.schema.json',
    title: 'Bester server.conf',
    description: 'Generated by scripts/config-schema.ts from the daemon\'s config validator; every key: docs/configuration.md.',
    ...node('', rules),
  };
}

export function schemaText(): string {
  return `${JSON.stringify(configSchema(), null, 2)}\n`;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(SCHEMA_FILE, schemaText());
  process.stdout.write(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}\n`);
}
