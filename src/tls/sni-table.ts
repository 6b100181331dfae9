// Which certificate a TLS handshake gets: built whenever a certificate changes, read on every handshake (two map
// lookups at most). Exact name, then the one-level wildcard ("a.example.com" → "*.example.com"), then the default.
import type tls from 'node:tls';
import type { ServingCertificate } from './certificate.ts';
import { normalizeName, wildcardFor } from './names.ts';

export interface SniEntry {
  /** Exact names and "*.x.y" wildcards; none for the default site (a service without hosts). */
  hosts: readonly string[];
  certificate: ServingCertificate;
}

export class SniTable {
  readonly #byName = new Map<string, tls.SecureContext>();
  /** For unknown names, and clients without SNI (the server's own context: Node calls no SNICallback for them). */
  readonly default: ServingCertificate;

  /**
   * `entries` in config order; a name claimed twice goes to the first. The default (unknown names, and clients
   * without SNI) is the site without hosts if there is one, else the first site, else `fallback` — like nginx's
   * first server block, so that clients by IP address still complete a handshake.
   */
  constructor(entries: readonly SniEntry[], fallback: ServingCertificate) {
    for (const e of entries) {
      for (const host of e.hosts) {
        const name = normalizeName(host);
        if (!this.#byName.has(name)) this.#byName.set(name, e.certificate.context);
      }
    }
    this.default = entries.find((e) => e.hosts.length === 0)?.certificate ?? entries[0]?.certificate ?? fallback;
  }

  lookup(servername: string | undefined): tls.SecureContext {
    if (!servername) return this.default.context;
    const name = normalizeName(servername);
    const exact = this.#byName.get(name);
    if (exact) return exact;
    const wildcard = wildcardFor(name);
    return (wildcard && this.#byName.get(wildcard)) || this.default.context;
  }
}
