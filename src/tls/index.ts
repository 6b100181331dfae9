// Certificates for zdd's TLS listeners: files, ACME (RFC 8555, via acme-client) and self-signed stand-ins.
import { tlsFileErrorCodes } from './certificate.ts';
import { tlsSiteErrorCode } from './sites.ts';

export { CertificateStore, type CertificateStoreOptions } from './certificate-store.ts';
export type { CertificateSite, CertificateStatus, TlsSpec } from './sites.ts';
export type { ChallengeType } from './challenges.ts';
export { acmeDirectoryUrl, defaultAcmeDirectory } from './acme-http.ts';
export { acmeTlsAlpnProtocol } from './tls-alpn-responder.ts';
export { renewAt, retryDelay, defaultRetry, type RetryPolicy } from './renewal.ts';

/** ZddError codes configure() throws: all problems of zdd.yaml's tls: blocks or the files they name (exit 2). */
export const tlsConfigErrorCodes: readonly string[] = [...tlsFileErrorCodes, tlsSiteErrorCode];
