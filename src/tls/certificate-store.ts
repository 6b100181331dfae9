// The certificates of every site, for the TLS and plain-HTTP listeners: picks the context of each handshake, answers
// ACME challenges, reloads files and runs ACME orders in the background. Serving never waits for a CA: a site
// without a certificate yet is served a self-signed one.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import { AcmeAccounts, defaultPolling, type AcmePolling } from './acme-account.ts';
import { AcmeFiles } from './acme-files.ts';
import { acmeDirectoryUrl, configureAcmeHttp } from './acme-http.ts';
import { AcmeSite, type AcmeSiteSpec } from './acme-site.ts';
import { servingCertificate, type ServingCertificate } from './certificate.ts';
import { ChallengeResponses } from './challenges.ts';
import { FilePairs, type FilePair } from './file-pairs.ts';
import { covers } from './names.ts';
import { defaultRetry, type RetryPolicy } from './renewal.ts';
import { selfSignedPem } from './self-signed.ts';
import { checkSite, defaultChallenges, siteHosts, type CertificateSite, type CertificateStatus } from './sites.ts';
import { SniTable } from './sni-table.ts';
import { ticketKeys } from './ticket-keys.ts';
import { TlsAlpnResponder } from './tls-alpn-responder.ts';

export interface CertificateStoreOptions {
  /** ACME accounts and certificates go to <dataDir>/tls (0700, files 0600). */
  dataDir: string;
  log: Logger;
  /** For tests: the clock of renewal and expiry decisions (timers still run in real time). */
  now?: () => number;
  /** For tests: the backoff after failed orders (default: 1 min doubling up to 3 h, ± 10 %). */
  retry?: RetryPolicy;
  /** For tests: how often acme-client polls pending challenges and orders (default: 5 s doubling up to 30 s). */
  acmePolling?: AcmePolling;
  /** Quiet period after a certificate file changes before it is read again (default 100 ms). */
  watchDebounceMs?: number;
}

type Site =
  | { kind: 'files'; service: string; hosts: string[]; pair: FilePair }
  | { kind: 'acme'; service: string; hosts: string[]; acme: AcmeSite };

/** Emits "change" whenever a served certificate or a site's status changes. */
export class CertificateStore extends EventEmitter<{ change: [] }> {
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #retry: RetryPolicy;
  readonly #files: AcmeFiles;
  readonly #accounts: AcmeAccounts;
  readonly #responses = new ChallengeResponses();
  readonly #responder: TlsAlpnResponder;
  readonly #filePairs: FilePairs;
  #sites: Site[] = [];
  #acmeSites = new Map<string, AcmeSite>();
  #selfSigned = new Map<string, Promise<ServingCertificate>>();
  #table: SniTable | undefined;
  /** The default when no site is configured. */
  #fallback: ServingCertificate | undefined;
  #configuring: Promise<void> = Promise.resolve();
  readonly #dataDir: string;

  constructor(o: CertificateStoreOptions) {
    super();
    this.#dataDir = o.dataDir;
    configureAcmeHttp();
    this.#log = o.log;
    this.#now = o.now ?? Date.now;
    this.#retry = o.retry ?? defaultRetry;
    this.#files = new AcmeFiles(o.dataDir);
    this.#accounts = new AcmeAccounts(this.#files, o.log, o.acmePolling ?? defaultPolling);
    this.#filePairs = new FilePairs(o.log, o.watchDebounceMs ?? 100, () => this.#changed());
    this.#responder = new TlsAlpnResponder(
      (name) => this.#responses.tlsAlpn01(name),
      () => this.#responses.tlsAlpn01Pending,
      o.log,
    );
  }

  /**
   * The sites of all services with tls: (at start and on every config reload). Reads and checks cert/key files,
   * takes ACME certificates kept in the data dir and starts orders for the rest in the background. Throws a ZddError
   * (codes in tlsConfigErrorCodes) for files that are unreadable or invalid, a key that is not the certificate's, or
   * an ACME site without hosts or with a wildcard; then nothing changes. Never throws for ACME trouble.
   */
  configure(sites: readonly CertificateSite[]): Promise<void> {
    const run = this.#configuring.then(() => this.#configure(sites));
    this.#configuring = run.catch(() => undefined);
    return run;
  }

  async #configure(sites: readonly CertificateSite[]): Promise<void> {
    for (const site of sites) checkSite(site);
    const pairs = await this.#filePairs.prepare(sites.flatMap((s) => ('cert' in s.tls ? [s.tls] : [])));
    const fallback = this.#table ? undefined : await this.#selfSignedFor([]);
    const acmeSites = new Map<string, AcmeSite>();
    const next: Site[] = [];
    for (const site of sites) {
      const hosts = siteHosts(site);
      if ('cert' in site.tls) {
        next.push({ kind: 'files', service: site.service, hosts, pair: pairs.get(`${site.tls.cert}\n${site.tls.key}`) as FilePair });
        continue;
      }
      const spec: AcmeSiteSpec = {
        service: site.service,
        hosts,
        email: site.tls.acme.email,
        directory: acmeDirectoryUrl(site.tls.acme.directory),
        challenges: [...new Set(site.challenges ?? defaultChallenges)],
      };
      const id = JSON.stringify(spec);
      let acme = this.#acmeSites.get(id) ?? acmeSites.get(id);
      if (!acme) {
        acme = new AcmeSite(spec, await this.#selfSignedFor(hosts), {
          accounts: this.#accounts,
          files: this.#files,
          responses: this.#responses,
          log: this.#log,
          now: this.#now,
          retry: this.#retry,
          onChange: () => this.#changed(),
        });
        await acme.load();
      }
      acmeSites.set(id, acme);
      next.push({ kind: 'acme', service: site.service, hosts, acme });
    }
    // Commit: from here on nothing throws.
    this.#filePairs.commit(pairs);
    for (const [id, old] of this.#acmeSites) if (!acmeSites.has(id)) old.stop();
    this.#acmeSites = acmeSites;
    this.#sites = next;
    this.#pruneSelfSigned();
    this.#fallback ??= fallback;
    for (const s of next) if (s.kind === 'files') this.#warnAboutFiles(s);
    this.#changed();
    for (const acme of acmeSites.values()) acme.start();
  }

  /** For SNICallback: the context for a server name (exact, then "*.parent", then the default). Fast: prebuilt. */
  contextFor(servername: string | undefined): tls.SecureContext {
    if (!this.#table) throw new Error('CertificateStore.contextFor() before configure()');
    return this.#table.lookup(servername);
  }

  /**
   * The default certificate's PEM chain and key, for tls.Server#setSecureContext(): Node calls no SNICallback for
   * clients without SNI, so the server's own context must be the default. Set it at start and on every "change".
   */
  defaultCertificate(): { cert: string; key: string } {
    if (!this.#table) throw new Error('CertificateStore.defaultCertificate() before configure()');
    return this.#table.default.pem();
  }

  /** Session ticket keys from the data dir (made, and replaced daily, there): see ticket-keys.ts. */
  ticketKeys(): Buffer {
    return ticketKeys(this.#dataDir);
  }

  /** The TLS-ALPN-01 challenge certificate's context for a name with a pending challenge, else undefined. */
  challengeContextFor(servername: string): tls.SecureContext | undefined {
    return this.#responses.tlsAlpn01(servername);
  }

  /** For GET /.well-known/acme-challenge/<token> on a plain-HTTP listener: the body to answer 200 with, or undefined (404). */
  http01Response(token: string): string | undefined {
    return this.#responses.http01(token);
  }

  /**
   * For the TLS listener, with each accepted TCP connection before TLS: hands it to `next` (which emits it on the
   * tls.Server), except TLS-ALPN-01 validations, answered here. Costs nothing while no such challenge is pending.
   */
  routeTlsConnection(socket: net.Socket, next: (socket: net.Socket) => void): void {
    this.#responder.route(socket, next);
  }

  /** Reads cert/key files again now (SIGHUP, zdd deploy); a changed valid pair is served to new handshakes. */
  reload(): Promise<void> {
    return this.#filePairs.reload();
  }

  status(): CertificateStatus[] {
    return this.#sites.map((s) => (s.kind === 'acme' ? s.acme.status() : this.#fileStatus(s)));
  }

  /** Stops timers, watches and orders' follow-ups. */
  close(): void {
    this.#filePairs.close();
    for (const acme of this.#acmeSites.values()) acme.stop();
    this.#responder.close();
  }

  #changed(): void {
    const entries = this.#sites.map((s) => ({ hosts: s.hosts, certificate: serving(s) }));
    this.#table = new SniTable(entries, this.#fallback as ServingCertificate);
    this.emit('change');
  }

  #fileStatus(s: Extract<Site, { kind: 'files' }>): CertificateStatus {
    const c = s.pair.current;
    const error = s.pair.rejected ?? this.#fileProblems(s).join('; ');
    return {
      service: s.service,
      hosts: [...s.hosts],
      source: 'files',
      subject: c.subject,
      issuer: c.issuer,
      serial: c.serial,
      notAfter: new Date(c.notAfter).toISOString(),
      ...(error ? { error } : {}),
    };
  }

  /** What is wrong with a certificate from files that still gets served: names it misses, expiry. */
  #fileProblems(s: Extract<Site, { kind: 'files' }>): string[] {
    const c = s.pair.current;
    const problems: string[] = [];
    const missing = s.hosts.filter((h) => !covers(c.names, h));
    if (missing.length > 0) problems.push(`the certificate in ${s.pair.cert} does not name ${missing.join(', ')}`);
    if (c.notAfter <= this.#now()) problems.push(`the certificate in ${s.pair.cert} expired at ${new Date(c.notAfter).toISOString()}`);
    return problems;
  }

  #warnAboutFiles(s: Extract<Site, { kind: 'files' }>): void {
    for (const problem of this.#fileProblems(s)) this.#log.warn({ service: s.service }, problem);
  }

  /** One self-signed certificate per set of names, made once and kept while a site uses it. */
  #selfSignedFor(hosts: readonly string[]): Promise<ServingCertificate> {
    const id = hosts.join(',');
    let cert = this.#selfSigned.get(id);
    if (!cert) {
      const making = selfSignedPem(hosts, this.#now()).then((p) => servingCertificate(p.certPem, p.keyPem, { cert: 'self-signed certificate', key: 'its key' }));
      making.catch(() => this.#selfSigned.get(id) === making && this.#selfSigned.delete(id));
      this.#selfSigned.set(id, making);
      cert = making;
    }
    return cert;
  }

  #pruneSelfSigned(): void {
    const used = new Set(['', ...this.#sites.flatMap((s) => (s.kind === 'acme' ? [s.hosts.join(',')] : []))]);
    for (const id of this.#selfSigned.keys()) if (!used.has(id)) this.#selfSigned.delete(id);
  }
}

function serving(s: Site): ServingCertificate {
  return s.kind === 'acme' ? s.acme.serving : s.pair.current;
}
