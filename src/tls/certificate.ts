// A certificate chain and its private key, checked and turned into a SecureContext once: handshakes only look
// the context up. Every problem is a ZddError naming the file.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { ZddError } from '../errors.ts';
import { dnsNames } from './names.ts';

export interface ServingCertificate {
  readonly context: tls.SecureContext;
  /** "CN=app.example.com" (all subject fields, comma-separated). */
  readonly subject: string;
  readonly issuer: string;
  /** The DNS names it covers (lower case; "*.x.y" for wildcards). */
  readonly names: readonly string[];
  /** Hex, upper case, as Node's X509Certificate and TLSSocket.getPeerCertificate() show it. */
  readonly serial: string;
  readonly fingerprint256: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** A hash of the chain and key: equal for the same pair read again (a file rewritten with the same content). */
  readonly identity: string;
  /** The PEM chain and key, for tls.Server#setSecureContext() (a function, so that logging the object shows no key). */
  readonly pem: () => { cert: string; key: string };
}

/** Where a pair comes from, for messages: file paths, or a description ("the data dir's ACME certificate of web"). */
export interface PairOrigin {
  cert: string;
  key: string;
}

/** Error codes of unusable certificate/key files (all config problems: fix the file or tls: in zdd.yaml). */
export const tlsFileErrorCodes = ['TLS_FILE_UNREADABLE', 'TLS_CERT_INVALID', 'TLS_KEY_INVALID', 'TLS_KEY_MISMATCH'] as const;

const pemCertificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Checks a PEM chain (leaf first) and its key, and builds the context. Throws a ZddError naming the file at fault. */
export function servingCertificate(certPem: string, keyPem: string, origin: PairOrigin): ServingCertificate {
  const blocks = certPem.match(pemCertificate) ?? [];
  if (blocks.length === 0) {
    throw new ZddError('TLS_CERT_INVALID', `${origin.cert} holds no PEM certificate`, 'tls.cert must name a PEM file (BEGIN CERTIFICATE), the server certificate first, e.g. certbot\'s fullchain.pem');
  }
  let chain: X509Certificate[];
  try {
    chain = blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    throw new ZddError('TLS_CERT_INVALID', `${origin.cert} holds an invalid certificate: ${(err as Error).message}`, 'replace it with a valid PEM certificate chain', { cause: err });
  }
  const leaf = chain[0] as X509Certificate;
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new ZddError('TLS_KEY_INVALID', `${origin.key} holds no usable private key: ${(err as Error).message}`, 'tls.key must name an unencrypted PEM private key, e.g. certbot\'s privkey.pem', { cause: err });
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new ZddError('TLS_KEY_MISMATCH', `${origin.key} is not the private key of the certificate in ${origin.cert}`, 'name the key that belongs to this certificate (for certbot: fullchain.pem with privkey.pem of the same lineage)');
  }
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({ cert: blocks.join('\n'), key: keyPem });
  } catch (err) {
    throw new ZddError('TLS_CERT_INVALID', `${origin.cert} cannot be served: ${(err as Error).message}`, 'replace the certificate and key', { cause: err });
  }
  return {
    context,
    subject: oneLine(leaf.subject),
    issuer: oneLine(leaf.issuer),
    names: dnsNames(leaf.subjectAltName),
    serial: leaf.serialNumber.toUpperCase(),
    fingerprint256: leaf.fingerprint256,
    notBefore: leaf.validFromDate.getTime(),
    notAfter: leaf.validToDate.getTime(),
    identity: createHash('sha256').update(blocks.join('\n')).update('\0').update(keyPem).digest('hex'),
    pem: () => ({ cert: blocks.join('\n'), key: keyPem }),
  };
}

/** Reads and checks a cert/key file pair (see servingCertificate). */
export async function readPair(certFile: string, keyFile: string): Promise<ServingCertificate> {
  const [certPem, keyPem] = [await readText(certFile), await readText(keyFile)];
  return servingCertificate(certPem, keyPem, { cert: certFile, key: keyFile });
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by zdd' : (err as Error).message;
    throw new ZddError('TLS_FILE_UNREADABLE', `${file} ${why}`, 'check the tls: paths in zdd.yaml and that the user running zdd can read them', { cause: err });
  }
}

function oneLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}
