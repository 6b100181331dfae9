// The answers to ACME challenges while an order waits for validation: HTTP-01 key authorizations by token (served
// by the plain-HTTP listener) and TLS-ALPN-01 certificates by name (served on the TLS listener). Secrets: never logged.
import type tls from 'node:tls';
import { normalizeName } from './names.ts';

export type ChallengeType = 'http-01' | 'tls-alpn-01';

export class ChallengeResponses {
  readonly #http01 = new Map<string, string>();
  readonly #tlsAlpn01 = new Map<string, tls.SecureContext>();

  addHttp01(token: string, keyAuthorization: string): void {
    this.#http01.set(token, keyAuthorization);
  }

  removeHttp01(token: string): void {
    this.#http01.delete(token);
  }

  /** The body for GET /.well-known/acme-challenge/<token>, if that token is pending. */
  http01(token: string): string | undefined {
    return this.#http01.get(token);
  }

  addTlsAlpn01(name: string, context: tls.SecureContext): void {
    this.#tlsAlpn01.set(normalizeName(name), context);
  }

  removeTlsAlpn01(name: string): void {
    this.#tlsAlpn01.delete(normalizeName(name));
  }

  /** The acme-tls/1 certificate's context for `name`, if a TLS-ALPN-01 challenge for it is pending. */
  tlsAlpn01(name: string): tls.SecureContext | undefined {
    return this.#tlsAlpn01.size === 0 ? undefined : this.#tlsAlpn01.get(normalizeName(name));
  }

  /** Whether any TLS-ALPN-01 challenge is pending (if none, TLS connections need no look at their ClientHello). */
  get tlsAlpn01Pending(): boolean {
    return this.#tlsAlpn01.size > 0;
  }
}
