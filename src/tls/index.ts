// Certificates for zdd's TLS listeners: files, ACME (RFC 8555, via acme-client) and self-signed stand-ins.
export { CertificateStore, type CertificateStoreOptions } from './certificate-store.ts';
export type { CertificateSite, CertificateStatus, TlsSpec } from './sites.ts';
export type { ChallengeType } from './challenges.ts';
export { acmeDirectoryUrl, defaultAcmeDirectory } from './acme-http.ts';
export { acmeTlsAlpnProtocol } from './tls-alpn-responder.ts';
export { renewAt, retryDelay, defaultRetry, type RetryPolicy } from './renewal.ts';

export { tlsConfigErrorCodes } from './error-codes.ts';
