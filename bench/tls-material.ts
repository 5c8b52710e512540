// A certificate for the TLS targets of the bench: self-signed for 127.0.0.1, made with the openssl
// command in the run's temp dir. The generators trust exactly it (its PEM is their CA).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface BenchCertificate {
  readonly certificate: string;
  readonly key: string;
  /** PEM text the clients pass as `ca`. */
  readonly ca: string;
}

export function makeBenchCertificate(dir: string): BenchCertificate {
  const certificate = path.join(dir, 'tls-cert.pem');
  const key = path.join(dir, 'tls-key.pem');
  // P-256: the key type most servers use today; its handshakes are cheaper than RSA 2048's.
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', certificate,
    '-days', '2', '-subj', '/CN=bester-bench', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  return { certificate, key, ca: readFileSync(certificate, 'utf8') };
}
