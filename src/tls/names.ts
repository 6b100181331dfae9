// Host names as TLS sees them: SNI server names, the names a certificate covers, and the hosts a site serves.

/** A server name or host compared the way TLS and DNS do: lower case, without a trailing dot. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** The one-level wildcard that would cover `name` ("a.example.com" → "*.example.com"), if there is one. */
export function wildcardFor(name: string): string | undefined {
  const dot = name.indexOf('.');
  if (dot <= 0 || dot === name.length - 1) return undefined;
  return `*${name.slice(dot)}`;
}

/** Whether a certificate naming `certNames` (DNS names, "*.x.y" allowed) is valid for `host` (exact or wildcard). */
export function covers(certNames: readonly string[], host: string): boolean {
  const h = normalizeName(host);
  const names = certNames.map(normalizeName);
  if (names.includes(h)) return true;
  // A wildcard host ("*.x.y") is covered only by the same wildcard; an exact host also by its one-level wildcard.
  const w = h.startsWith('*.') ? undefined : wildcardFor(h);
  return w !== undefined && names.includes(w);
}

/** The DNS names of a certificate, from Node's X509Certificate.subjectAltName ("DNS:a, DNS:*.b, IP Address:…"). */
export function dnsNames(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => normalizeName(entry.slice(4).replace(/^"|"$/g, '')));
}
