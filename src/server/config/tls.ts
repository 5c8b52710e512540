// TLS material in a config block (docs/configuration.md, "TLS material"): the keys every listener
// kind that speaks TLS shares (tls4, tls6, wss) and the outgoing side of a federation peer.
// Parsing checks the form only; the files are read when the listener starts and on every reload
// (transport/tls-material.ts), so a renewed certificate is picked up without a restart.
import type { ClientCertificates, PeerTlsConfig, TlsMaterialConfig, TlsMinVersion } from './types.ts';
import { type Checker, type RawObject, describe, keyPath, own } from './validate.ts';

/** The keys parseTlsMaterial reads: add them to the block's known keys. */
export const TLS_KEYS = ['certificate', 'key', 'ca', 'clientCertificates', 'minVersion'] as const;

const CLIENT_CERTIFICATES: readonly ClientCertificates[] = ['none', 'request', 'require'];
const MIN_VERSIONS: readonly TlsMinVersion[] = ['TLSv1.2', 'TLSv1.3'];
export const DEFAULT_TLS_MIN_VERSION: TlsMinVersion = 'TLSv1.2';

/**
 * The TLS material of the listener block `block` at `key` (e.g. "network.tls4"): `certificate` and
 * `key` (PEM files, required), `ca` (PEM file of the CAs that sign client certificates),
 * `clientCertificates` ("none" by default, "request" or "require"), `minVersion` ("TLSv1.2" by
 * default, or "TLSv1.3"). Paths resolve from the config's folder. Errors go to `c`.
 */
export function parseTlsMaterial(c: Checker, block: RawObject, key: string): TlsMaterialConfig {
  const file = (name: string, required: boolean, what: string): string | null => {
    const value = own(block, name);
    if (value === undefined) {
      if (required) c.error(keyPath(key, name), `required: the path of ${what}`);
      return null;
    }
    return c.filePath(value, keyPath(key, name)) ?? null;
  };
  const certificate = file('certificate', true, 'the PEM certificate (chain) this end presents') ?? '';
  const privateKey = file('key', true, 'the PEM private key of that certificate') ?? '';
  const ca = file('ca', false, 'the PEM file of the CAs that sign accepted client certificates');
  const clientCertificates = c.oneOf(own(block, 'clientCertificates'), keyPath(key, 'clientCertificates'), CLIENT_CERTIFICATES, 'none');
  const minVersion = c.oneOf(own(block, 'minVersion'), keyPath(key, 'minVersion'), MIN_VERSIONS, DEFAULT_TLS_MIN_VERSION);
  if (clientCertificates !== 'none' && ca === null) {
    // Without it Node would check client certificates against the public CAs: anyone could get one.
    c.error(keyPath(key, 'ca'), `required when clientCertificates is "${clientCertificates}": the CAs whose client certificates are accepted`);
  }
  if (clientCertificates === 'none' && ca !== null) {
    c.warn(keyPath(key, 'ca'), 'unused: clientCertificates is "none", so no client certificate is asked for');
  }
  return {
    configKey: key,
    certificate,
    key: privateKey,
    ca,
    clientCertificates,
    requestClientCertificate: clientCertificates !== 'none',
    minVersion,
  };
}

const PEER_TLS_KEYS = ['ca', 'fingerprint', 'certificate', 'key', 'serverName'] as const;

/**
 * federation.peers.NAME.tls (docs/federation.md §3.8): `true` (the peer's certificate checked
 * against the CAs Node.js trusts), or an object with `ca`, `fingerprint` (SHA-256, hex with or
 * without colons), `certificate` and `key` (ours, for mutual TLS: both or neither) and `serverName`.
 */
export function parsePeerTls(c: Checker, value: unknown, key: string): PeerTlsConfig | null {
  if (value === undefined || value === false) return null;
  const none = { configKey: key, ca: null, fingerprint: null, certificate: null, key: null, serverName: null };
  if (value === true) return none;
  const block = c.block(value, key);
  if (block === undefined) return null;
  c.unknownKeys(block, key, PEER_TLS_KEYS);
  const file = (name: string): string | null => {
    const raw = own(block, name);
    return raw === undefined ? null : (c.filePath(raw, keyPath(key, name)) ?? null);
  };
  const certificate = file('certificate');
  const privateKey = file('key');
  if ((certificate === null) !== (privateKey === null)) {
    c.error(key, 'give "certificate" and "key" together (our client certificate, for a peer that asks for one), or neither');
  }
  const rawName = own(block, 'serverName');
  const serverName = rawName === undefined ? null : (c.text(rawName, keyPath(key, 'serverName'), 'a host name') ?? null);
  return { ...none, ca: file('ca'), fingerprint: parseFingerprint(c, own(block, 'fingerprint'), keyPath(key, 'fingerprint')), certificate, key: privateKey, serverName };
}

/** "ab:cd:..." or "abcd..." (64 hex digits) -> "AB:CD:...", the form of Node's `fingerprint256`. */
function parseFingerprint(c: Checker, value: unknown, key: string): string | null {
  if (value === undefined) return null;
  const hex = typeof value === 'string' ? value.replace(/^sha256:/i, '').replaceAll(':', '') : '';
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    c.error(key, `must be a SHA-256 fingerprint: 64 hex digits, colons allowed (\`openssl x509 -noout -fingerprint -sha256 -in cert.pem\`), got ${describe(value)}`);
    return null;
  }
  return hex.toUpperCase().match(/../g)!.join(':');
}
