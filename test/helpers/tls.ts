// Certificates for TLS tests, made at test time with the openssl CLI in a temp dir: two CAs (the
// one the tests trust and another), server certificates for localhost, an expired one, and
// client certificates. EC P-256 keys: quick to make.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface CertFiles {
  readonly certificate: string;
  readonly key: string;
}

export interface IssueOptions {
  /** Subject CN. */
  readonly cn: string;
  /** subjectAltName entries; default: DNS:localhost, IP:127.0.0.1, IP:::1. */
  readonly san?: readonly string[];
  /** Which CA signs it: 'ca' (the trusted one, default) or 'other'. */
  readonly by?: 'ca' | 'other';
  /** Valid only in 2020: expired today. */
  readonly expired?: boolean;
  /** 'server' (default) or 'client' (extendedKeyUsage clientAuth). */
  readonly usage?: 'server' | 'client';
}

export interface TestPki {
  readonly dir: string;
  /** The CA the tests configure as trusted. */
  readonly ca: CertFiles;
  /** A CA nobody trusts. */
  readonly otherCa: CertFiles;
  /** A certificate and key for localhost, signed by `ca`. */
  readonly server: CertFiles;
  /** Makes another certificate (files named after `name`). */
  issue(name: string, options: IssueOptions): CertFiles;
}

/**
 * null when the openssl command is there to make the tests' certificates. Without it the TLS tests
 * fail rather than skip: .ci/run installs it, and a skipped TLS suite would prove nothing.
 */
export function opensslMissing(): string | null {
  const run = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error('the openssl command is not available: the TLS tests need it (apt-get install openssl)');
  return null;
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): CertFiles {
  const files = { certificate: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  openssl(dir, [
    'req', '-x509', ...EC, '-keyout', files.key, '-out', files.certificate, '-days', '30', '-subj', `/CN=Bester test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return files;
}

/** Makes a fresh PKI under `dir` (created if missing). */
export function makeTestPki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  const ca = makeCa(dir, 'ca');
  const otherCa = makeCa(dir, 'other-ca');
  let serial = 0;
  const issue = (name: string, options: IssueOptions): CertFiles => {
    const signer = options.by === 'other' ? otherCa : ca;
    const files = { certificate: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
    const san = (options.san ?? ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1']).join(',');
    const usage = options.usage === 'client' ? 'clientAuth' : 'serverAuth';
    const extensions = [`subjectAltName=${san}`, 'basicConstraints=CA:FALSE', `extendedKeyUsage=${usage}`];
    if (options.expired !== true) {
      openssl(dir, [
        'req', '-x509', ...EC, '-keyout', files.key, '-out', files.certificate, '-days', '2', '-subj', `/CN=${options.cn}`,
        '-CA', signer.certificate, '-CAkey', signer.key, ...extensions.flatMap((e) => ['-addext', e]),
      ]);
      return files;
    }
    // `openssl req -x509` cannot set past dates in OpenSSL 3.0: `openssl ca` can, with a small database.
    const db = path.join(dir, `${name}-db`);
    mkdirSync(db, { recursive: true });
    writeFileSync(path.join(db, 'index.txt'), '');
    writeFileSync(path.join(db, 'serial'), `${(0x1000 + ++serial).toString(16)}\n`);
    const conf = path.join(db, 'ca.cnf');
    writeFileSync(conf, [
      '[ca]', 'default_ca = test', '[test]', `dir = ${db}`, 'database = $dir/index.txt', 'new_certs_dir = $dir',
      'serial = $dir/serial', 'default_md = sha256', 'policy = any', 'copy_extensions = copy', 'unique_subject = no',
      '[any]', 'commonName = supplied', '',
    ].join('\n'));
    const csr = path.join(db, 'req.csr');
    openssl(dir, ['req', '-new', ...EC, '-keyout', files.key, '-out', csr, '-subj', `/CN=${options.cn}`, ...extensions.flatMap((e) => ['-addext', e])]);
    openssl(dir, [
      'ca', '-batch', '-config', conf, '-cert', signer.certificate, '-keyfile', signer.key, '-in', csr, '-out', files.certificate,
      '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-notext',
    ]);
    return files;
  };
  const server = issue('server', { cn: 'localhost' });
  return { dir, ca, otherCa, server, issue };
}
