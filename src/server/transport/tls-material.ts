// Reading TLS material (config/tls.ts) into what node:tls takes. Done at start and on every reload,
// so that a renewed certificate is used by new connections while the open ones go on.
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { BesterError } from '../../protocol/errors.ts';
import type { TlsMaterialConfig } from '../config/types.ts';

/**
 * Reads the certificate, key and CA files of `material` and checks that node:tls accepts them
 * together (PEM that parses, a key that matches the certificate). Rejects with
 * BesterError('config_invalid', '<config key>: <reason>'), e.g. "network.tls4.key: cannot read
 * /etc/bester/key.pem: ENOENT".
 */
export async function loadSecureContext(material: TlsMaterialConfig): Promise<tls.SecureContextOptions> {
  const [cert, key, ca] = await Promise.all([
    read(material, 'certificate', material.certificate),
    read(material, 'key', material.key),
    material.ca === null ? Promise.resolve(null) : read(material, 'ca', material.ca),
  ]);
  const options: tls.SecureContextOptions = { cert, key, minVersion: material.minVersion, ...(ca === null ? {} : { ca }) };
  try {
    tls.createSecureContext(options);
  } catch (err) {
    throw new BesterError('config_invalid', `${material.configKey}: ${describeTlsError(err)}`, { cause: err });
  }
  return options;
}

/** The server options that ask for (and maybe require) a client certificate. */
export function clientCertificateOptions(material: TlsMaterialConfig): { requestCert: boolean; rejectUnauthorized: boolean } {
  return { requestCert: material.requestClientCertificate, rejectUnauthorized: material.clientCertificates === 'require' };
}

async function read(material: TlsMaterialConfig, name: 'certificate' | 'key' | 'ca', file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new BesterError('config_invalid', `${material.configKey}.${name}: cannot read ${file}: ${code}`, { cause: err });
  }
}

/** OpenSSL's reasons, in words a person configuring the files can act on. */
function describeTlsError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/KEY_VALUES_MISMATCH|key values mismatch/i.test(message)) return 'the key does not belong to the certificate';
  if (/NO_START_LINE|no start line/i.test(message)) return `a file is not PEM (${message})`;
  return `the certificate, key or CA is not usable: ${message}`;
}
