// The daemon's configuration after loading: typed, every default filled in, paths absolute, frozen.
// The file format (the original server.conf plus our keys) is in docs/configuration.md.

/** database.redis.sentinel, checked. */
export interface SentinelConfig {
  readonly name: string;
  readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  /** AUTH for the master and replicas (their `requirepass`, or an ACL user's). */
  readonly username?: string;
  readonly password?: string;
  /** AUTH for the Sentinels themselves (their `requirepass`). */
  readonly sentinelPassword?: string;
}

export type ListenerKind = 'tcp4' | 'tcp6' | 'unix' | 'tls4' | 'tls6' | 'ws' | 'wss';

export interface TcpListenerConfig {
  readonly kind: 'tcp4' | 'tcp6';
  /** Address to bind, e.g. "0.0.0.0", "127.0.0.1", "::". */
  readonly host: string;
  /** 0 asks the OS for a free port (tests); the bound port is read back from the listener. */
  readonly port: number;
}

export interface UnixListenerConfig {
  readonly kind: 'unix';
  /** Absolute path of the socket file. */
  readonly path: string;
  /** File mode given to the socket file, e.g. 0o600. */
  readonly mode: number;
}

/** Whether a TLS listener asks for client certificates, and whether it refuses a connection without a valid one. */
export type ClientCertificates = 'none' | 'request' | 'require';

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/** Certificate, key and CA files of a TLS end (config/tls.ts); read at start and on every reload. */
export interface TlsMaterialConfig {
  /** Where in the config this came from (e.g. "network.tls4"), for messages about the files. */
  readonly configKey: string;
  /** Absolute path of the PEM certificate (chain) this end presents. */
  readonly certificate: string;
  /** Absolute path of the PEM private key of that certificate. */
  readonly key: string;
  /** Absolute path of the PEM file of the CAs that sign the other end's certificates, or null. */
  readonly ca: string | null;
  readonly clientCertificates: ClientCertificates;
  /** clientCertificates is "request" or "require". */
  readonly requestClientCertificate: boolean;
  /** Oldest TLS version accepted. */
  readonly minVersion: TlsMinVersion;
}

/** A TCP listener that speaks TLS (docs/configuration.md, network.tls4 and network.tls6). */
export interface TlsListenerConfig {
  readonly kind: 'tls4' | 'tls6';
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMaterialConfig;
}

/**
 * A WebSocket listener (docs/configuration.md "network.ws"; docs/protocol.md §1.5): an HTTP (ws) or
 * HTTPS (wss) server that upgrades requests for `path` to WebSocket sessions and serves the files of `staticDir`.
 */
export interface WsListenerConfig {
  readonly kind: 'ws' | 'wss';
  /** Address to bind, e.g. "127.0.0.1", "::", "0.0.0.0". */
  readonly host: string;
  /** 0 asks the OS for a free port (tests); the bound port is read back from the listener. */
  readonly port: number;
  /** The URL path WebSocket upgrades are accepted on, e.g. "/bester". */
  readonly path: string;
  /**
   * Browser origins allowed to open a WebSocket besides the listener's own (docs/security.md,
   * "WebSocket and Origin"), each as "scheme://host[:port]". Requests without Origin are allowed.
   */
  readonly origins: readonly string[];
  /** Absolute path of a folder served over HTTP on the same port (GET and HEAD), or null. */
  readonly staticDir: string | null;
  /** wss: the certificate and key (config/tls.ts); null for ws. */
  readonly tls: TlsMaterialConfig | null;
}

export type ListenerConfig = TcpListenerConfig | UnixListenerConfig | TlsListenerConfig | WsListenerConfig;

export interface HandlerConfig {
  /** The message type this handler serves (key of handlers.typeMap). */
  readonly type: string;
  /** Absolute path of the UNIX socket the handler listens on. */
  readonly socketPath: string;
  /** Absolute path of the program the daemon starts, or null for a handler run by someone else. */
  readonly binary: string | null;
  /** Extra arguments put before the socket path when the daemon starts the handler. */
  readonly args: readonly string[];
  /** How long one handler call may take before the sender gets `bad` (ms). */
  readonly timeoutMs: number;
  /**
   * What the handler receives per message: "data" (the original's way: `payload.data` only) or
   * "envelope" (ours: `{sender, type, id, data}`, so a handler knows who sent it). docs/protocol.md §4.4.
   */
  readonly input: HandlerInput;
  /** Calls to this handler that may be in progress at once; one more is refused at once with `overloaded`. */
  readonly maxInFlight: number;
  /**
   * Calls to this handler one user may have in progress at once (default: a quarter of maxInFlight),
   * so that one user reaching the handler's cap does not refuse everyone else (docs/protocol.md §4.1.1).
   */
  readonly maxInFlightPerUser: number;
  /**
   * How the daemon talks to the handler (docs/protocol.md §4.5): "auto" (the handler's greeting
   * decides), "original" (a new connection per call, §4.1) or "multiplex" (multiplex/1 required).
   */
  readonly protocol: HandlerProtocol;
  /**
   * Long-lived connections the daemon keeps to this handler when it speaks multiplex/1
   * (docs/protocol.md §4.5.3), 1-64 (default 2); ignored for handlers called the original way.
   */
  readonly connections: number;
  /**
   * Working directory of the started handler (docs/configuration.md, "How handlers are started"):
   * `workingDirectory`, else the binary's folder when handlerBinary is a relative path with a
   * folder, else (absent) the config's folder.
   */
  readonly workingDirectory?: string;
}

export type HandlerInput = 'data' | 'envelope';

export type HandlerProtocol = 'auto' | 'original' | 'multiplex';

export interface SqliteAccountsConfig {
  readonly kind: 'sqlite';
  /** Absolute path of the SQLite file. */
  readonly path: string;
}

/** database.type "redis" (docs/scaling.md): accounts (and, in the daemon, kept deliveries) in Redis. */
export interface RedisAccountsConfig {
  readonly kind: 'redis';
  /** redis://[user:password@]host:port[/db], from database.redis.url or its address and port. */
  readonly url: string;
  /** Prefix of every key (several Bester servers can share one Redis); default "bester:". */
  readonly prefix: string;
  /**
   * database.redis.nodeId: this daemon is the node of that name in a server made of several on
   * this Redis (presence and delivery bus, docs/scaling.md); null: a daemon alone.
   */
  readonly nodeId: string | null;
  /** The cluster's timing (database.redis heartbeatMs, expiryMs, ackTimeoutMs; docs/scaling.md "Tuning"). */
  readonly timing: ClusterTiming;
  /** database.redis.cluster: a Redis Cluster, by some masters' redis://host:port (absent: one server). */
  readonly cluster?: readonly string[];
  /** database.redis.sentinel: the master `name` found through these sentinels (absent: one server). */
  readonly sentinel?: SentinelConfig;
}

export interface ClusterTiming {
  /** How often a node refreshes its heartbeats and looks for dead nodes. */
  readonly heartbeatMs: number;
  /** A node whose heartbeat is this old is dead (and a node cut off from Redis this long fences itself). */
  readonly expiryMs: number;
  /** How long a publisher waits for a node's acknowledgement of a delivery (more than expiryMs). */
  readonly ackTimeoutMs: number;
}

export type AccountsConfig = SqliteAccountsConfig | RedisAccountsConfig;

export interface LimitsConfig {
  /** Largest frame accepted from a client after login (bytes). */
  readonly maxFrameBytes: number;
  /** Largest first (login) frame accepted (bytes). */
  readonly maxLoginFrameBytes: number;
  /** Largest reply frame accepted from a handler (bytes). */
  readonly maxHandlerFrameBytes: number;
  /** How long a new connection may take to send its first frame (ms). */
  readonly loginTimeoutMs: number;
  /** How many sendHandler forwards one message may take before `bad`. */
  readonly maxHandlerHops: number;
  /** Deepest nesting of objects and arrays accepted in a frame's JSON (checked before parsing). */
  readonly maxJsonDepth: number;
  /** Connections open at once on all listeners (clients, logins in progress, peer links); one more is refused. */
  readonly maxConnections: number;
  /** Connections from one address (IPv6: one /64) that have not logged in yet. UNIX connections are exempt. */
  readonly maxUnauthenticatedPerAddress: number;
  /**
   * Connections on all listeners that have not logged in yet (default: a fifth of maxConnections).
   * Past it the one that waited longest without sending its login is closed to make room (§2.5).
   */
  readonly maxUnauthenticated: number;
  /** Client connections one user may hold at once; one more login is refused. */
  readonly maxSessionsPerUser: number;
  /** Bytes queued for one connection before it is cut off as a slow consumer. */
  readonly maxOutboundBytes: number;
  /** How long queued bytes may wait without any being sent before the connection is cut off (ms). */
  readonly writeStallMs: number;
  /**
   * Messages of one connection whose handler calls may run at once (docs/protocol.md §3.1). Their
   * deliveries and status reports are still applied in the order sent; 1 handles them one at a time.
   */
  readonly pipelineDepth: number;
  /** Failed logins, throttled per address and per username (docs/protocol.md §2.5). */
  readonly loginFailures: LoginFailureLimits;
  /** Password checks running and waiting (docs/protocol.md §2.5, session/login-queue.ts). */
  readonly loginChecks: LoginQueueLimits;
}

export interface LoginQueueLimits {
  /** Password checks running at once. */
  readonly maxRunning: number;
  /** Password checks waiting for their turn; one more is answered `server_busy` (or takes a worse one's place). */
  readonly maxWaiting: number;
  /** Password checks running or waiting for one address (IPv6: one /64; UNIX-socket connections: one key). */
  readonly maxPerAddress: number;
}

export interface LoginFailureLimits {
  /** Failed logins from one address (IPv6: one /64) within the window before its logins are refused. */
  readonly maxPerAddress: number;
  /** Failed logins for one username, from anywhere, within the window before its logins are refused. */
  readonly maxPerUser: number;
  readonly windowMs: number;
  /** How long logins are refused once a maximum is reached (ms). */
  readonly blockMs: number;
}

/** The built-in ping (docs/protocol.md §5.3) and TCP keepalive. */
export interface LivenessConfig {
  /** A client that sent nothing for this long is pinged (ms); also the TCP keepalive delay. */
  readonly pingIntervalMs: number;
  /** Pings in a row without anything from the client before the connection is closed. */
  readonly maxMissedPings: number;
  /** Ping every client, also those that did not announce the "ping" feature at login. */
  readonly pingLegacyClients: boolean;
}

export interface HandlerSupervisionConfig {
  /** How long a started handler may take before its socket accepts (ms). */
  readonly startTimeoutMs: number;
  /** First restart delay after a handler dies (ms); doubles up to maxRestartDelayMs. */
  readonly restartDelayMs: number;
  readonly maxRestartDelayMs: number;
  /** How long a handler gets between SIGTERM and SIGKILL on shutdown (ms). */
  readonly stopTimeoutMs: number;
}

/** A peer server (docs/federation.md §2). Its map key and `name` are the peer's node id. */
export interface PeerConfig {
  readonly name: string;
  /** Where its listener is, to open our link to it; null for a peer that only connects to us. */
  readonly host: string | null;
  readonly port: number | null;
  /** The shared secret frames are sealed with (from `secret` or `secretFile`); null only for legacy peers. */
  readonly secret: string | null;
  /** Speaks the original's federation: one unauthenticated message per connection, no acknowledgements. */
  readonly legacy: boolean;
  /** Our link to it goes over TLS (docs/federation.md §3.8); null: plain TCP. */
  readonly tls: PeerTlsConfig | null;
}

/**
 * TLS of the link we open to a peer (federation.peers.NAME.tls). The peer's certificate is checked
 * against `ca` (with its name), or against the pinned `fingerprint`, or both; with neither, against
 * the CAs Node.js trusts. `certificate` and `key`: ours, for a peer that asks for client certificates.
 */
export interface PeerTlsConfig {
  readonly configKey: string;
  /** Absolute path of the PEM file of the CAs that sign the peer's certificate, or null. */
  readonly ca: string | null;
  /** SHA-256 fingerprint of the peer's certificate, "AB:CD:..." (upper case, as Node.js gives it), or null. */
  readonly fingerprint: string | null;
  readonly certificate: string | null;
  readonly key: string | null;
  /** The name the peer's certificate must be for (default: the host of its address, when not an IP address). */
  readonly serverName: string | null;
}

export interface FederationConfig {
  /**
   * Accept the original's unauthenticated `scope: "server"` connections (one message each).
   * Off by default: anyone who can connect could inject messages as a "server".
   */
  readonly acceptUnauthenticatedServers: boolean;
  /** This server's node id; null: a random id generated once and kept in the SQLite file. */
  readonly nodeId: string | null;
  readonly peers: ReadonlyMap<string, PeerConfig>;
  /** sendServers to a host:port that is no configured peer uses the original's way instead of failing. */
  readonly allowUnlistedTargets: boolean;
  /** Servers a message may cross; past that it is dropped (loops). */
  readonly maxHops: number;
  readonly heartbeatMs: number;
  /** Messages sent on a link and not yet acknowledged. */
  readonly maxInFlight: number;
  /** How long a message may wait in the outbox for its peer (ms). */
  readonly outboxTtlMs: number;
  /** Messages that may wait for one peer. */
  readonly outboxCap: number;
  /** How long a sender's status report waits for the peer's acknowledgement before saying "queued" (ms). */
  readonly ackWaitMs: number;
  readonly connectTimeoutMs: number;
  readonly reconnectDelayMs: number;
  readonly maxReconnectDelayMs: number;
}

/** The informer: a UNIX socket that handlers and `bester status` query out of band (docs/protocol.md §9). */
export interface InformerConfig {
  readonly enabled: boolean;
  /** Absolute path of the socket file (also when disabled: where it would be). */
  readonly path: string;
  /** File mode given to the socket file, e.g. 0o600: who may connect is who may use it. */
  readonly mode: number;
  /** Whether the informer's `sendClients` command may deliver to users. */
  readonly allowSendClients: boolean;
  /**
   * Whether the informer's `reload` and `restartHandler` commands (`bester reload`, `bester handler
   * restart`) may be used. Who may connect could signal the daemon anyway (the socket is the
   * daemon user's, mode 0600 by default); turn it off where the informer's mode lets others in.
   */
  readonly allowControl: boolean;
}

/** Deliveries kept for known users who are offline (docs/protocol.md §4.3.1). */
export interface OfflineConfig {
  /** false: a sendClients recipient who is not connected is reported undelivered (the earlier behaviour). */
  readonly enabled: boolean;
  /** Messages that may wait for one user; more are refused with recipient_queue_full. */
  readonly maxPerUser: number;
  /** Bytes (of the delivery frames) that may wait for one user; more are refused with recipient_queue_full. */
  readonly maxBytesPerUser: number;
  /** Bytes that may wait for all users together; more are refused with recipient_queue_full. */
  readonly maxBytes: number;
  /** How long a message may wait (ms); then it is removed and its sender told. */
  readonly ttlMs: number;
}

/** How the daemon stops (SIGTERM, SIGINT, server.close()). */
export interface ShutdownConfig {
  /** How long handler calls in progress may take to finish before they are cancelled (ms). */
  readonly graceMs: number;
}

/**
 * The admin HTTP listener (docs/operations.md, "Metrics and health"): /metrics, /healthz, /readyz.
 * Off unless the config has an `admin.http` block.
 */
export interface AdminHttpConfig {
  /** Address to bind; loopback unless the config names another (the daemon warns then). */
  readonly host: string;
  /** 0 asks the OS for a free port (tests); the bound port is read back from the listener. */
  readonly port: number;
}

export interface LogConfig {
  readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export interface ServerConfig {
  /** Absolute path of the file this was loaded from (null when built in code). */
  readonly configPath: string | null;
  /** Folder relative paths were resolved from. */
  readonly baseDir: string;
  readonly listeners: readonly ListenerConfig[];
  /** network.requireTls: password logins on plain tcp4/tcp6 listeners are refused (docs/protocol.md §2.7). */
  readonly requireTls: boolean;
  /** Keyed by message type, in the order of handlers.availableTypes. */
  readonly handlers: ReadonlyMap<string, HandlerConfig>;
  readonly accounts: AccountsConfig;
  readonly limits: LimitsConfig;
  readonly supervision: HandlerSupervisionConfig;
  readonly federation: FederationConfig;
  readonly informer: InformerConfig;
  readonly liveness: LivenessConfig;
  readonly offline: OfflineConfig;
  readonly shutdown: ShutdownConfig;
  readonly log: LogConfig;
  /** The config's admin.info, passed through as it is (the informer shows it). */
  readonly adminInfo: unknown;
  /** The admin HTTP listener; null (the default) when the config has no admin.http block. */
  readonly adminHttp: AdminHttpConfig | null;
}
