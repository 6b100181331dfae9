// What the caller tells the certificate store (a site per service with tls:) and what it reports back.
import { ZddError } from '../errors.ts';
import type { ChallengeType } from './challenges.ts';
import { normalizeName } from './names.ts';

/**
 * A service's tls: block. cert/key are absolute paths. directory is the ACME directory URL, or "staging" (Let's
 * Encrypt staging), or absent (Let's Encrypt production).
 */
export type TlsSpec = { cert: string; key: string } | { acme: { email: string; directory?: string } };

export interface CertificateSite {
  service: string;
  /** Lower-case exact names or "*.x.y" (wildcards only with cert/key files); none for the default service. */
  hosts: string[];
  tls: TlsSpec;
  /**
   * ACME only: the challenges this service can answer, preferred first. "http-01" only when its plain-HTTP
   * listener (redirectHttp) serves http01Response(); "tls-alpn-01" when its TLS listener routes connections
   * through routeTlsConnection(). Default: ["tls-alpn-01"].
   */
  challenges?: ChallengeType[];
}

export interface CertificateStatus {
  service: string;
  hosts: string[];
  /** What is served now: the configured files, a certificate from the ACME CA, or a self-signed stand-in. */
  source: 'files' | 'acme' | 'self-signed';
  subject: string;
  issuer: string;
  /** Hex, upper case (as TLSSocket.getPeerCertificate() shows it). */
  serial: string;
  /** ISO times. */
  notAfter: string;
  /** ACME: when renewal is due (two-thirds into the lifetime). */
  renewAt?: string;
  /** An ACME order in flight. */
  ordering?: boolean;
  /** The last failure ("ACME order failed: …", a rejected file replacement, names the certificate misses). */
  error?: string;
  /** ACME: the next order attempt after a failure. */
  nextAttempt?: string;
}

export const defaultChallenges: readonly ChallengeType[] = ['tls-alpn-01'];

/** Error code of a tls: block the store cannot serve as written (a config problem, like the file codes). */
export const tlsSiteErrorCode = 'TLS_SITE_INVALID';

/** Checks what configure() cannot serve: ACME without hosts or with wildcards (they need DNS-01, which zdd lacks). */
export function checkSite(site: CertificateSite): void {
  if (!('acme' in site.tls)) return;
  if (site.hosts.length === 0) {
    throw new ZddError(tlsSiteErrorCode, `${site.service}: tls.acme needs hosts to order a certificate for`, 'add hosts: [your.domain] to the service, or use tls: { cert, key } files');
  }
  const wildcard = site.hosts.find((h) => h.startsWith('*'));
  if (wildcard) {
    throw new ZddError(tlsSiteErrorCode, `${site.service}: tls.acme cannot obtain ${wildcard} (wildcards need the DNS-01 challenge, which zdd does not answer)`, 'list the exact names in hosts, or use a wildcard certificate from files: tls: { cert, key }');
  }
  if (site.challenges && site.challenges.length === 0) {
    throw new ZddError(tlsSiteErrorCode, `${site.service}: tls.acme with no challenge type to answer`, 'give the service a TLS listener (tls-alpn-01) or redirectHttp (http-01)');
  }
}

/** The hosts as the store compares them: normalized, without duplicates, in their given order. */
export function siteHosts(site: CertificateSite): string[] {
  return [...new Set(site.hosts.map(normalizeName))];
}
