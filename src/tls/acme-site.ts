// One site with tls.acme: serves its self-signed stand-in until a certificate exists, orders one in the background,
// renews it two-thirds into its lifetime and retries failures with backoff. Phases: waiting (for renewal or a retry)
// → ordering → waiting …, until stopped; #next() is the one place that decides which comes next (renewal.ts).
import path from 'node:path';
import type { Logger } from 'pino';
import type { AcmeAccounts } from './acme-account.ts';
import type { AcmeFiles, StoredPair } from './acme-files.ts';
import { orderCertificate } from './acme-order.ts';
import { servingCertificate, type ServingCertificate } from './certificate.ts';
import type { ChallengeResponses, ChallengeType } from './challenges.ts';
import { challengeOrder, nextStep, renewAt, retryDelay, usable, type RetryPolicy } from './renewal.ts';
import type { CertificateStatus } from './sites.ts';

export interface AcmeSiteSpec {
  service: string;
  hosts: readonly string[];
  email: string;
  /** The directory URL (shorthands resolved). */
  directory: string;
  challenges: readonly ChallengeType[];
}

export interface AcmeSiteDeps {
  accounts: AcmeAccounts;
  files: AcmeFiles;
  responses: ChallengeResponses;
  log: Logger;
  now: () => number;
  retry: RetryPolicy;
  /** Called when what the site serves or reports changes. */
  onChange: () => void;
}

type Phase =
  | { kind: 'new' }
  | { kind: 'waiting'; until: number; reason: 'renewal' | 'retry'; timer: NodeJS.Timeout }
  | { kind: 'ordering'; since: number }
  | { kind: 'stopped' };

/** Timers wake at least daily and decide again (setTimeout caps at ~24.8 days; clocks get adjusted). */
const maxWaitMs = 24 * 3600_000;

export class AcmeSite {
  readonly spec: AcmeSiteSpec;
  readonly #selfSigned: ServingCertificate;
  readonly #deps: AcmeSiteDeps;
  #phase: Phase = { kind: 'new' };
  #cert: ServingCertificate | undefined;
  #failures = 0;
  #lastError: string | undefined;
  #retryAt: number | undefined;

  constructor(spec: AcmeSiteSpec, selfSigned: ServingCertificate, deps: AcmeSiteDeps) {
    this.spec = spec;
    this.#selfSigned = selfSigned;
    this.#deps = deps;
  }

  /** Takes the certificate kept in the data dir, if it names every host and has not expired. */
  async load(): Promise<void> {
    const { directory, service } = this.spec;
    const dir = this.#deps.files.certDir(directory, service);
    try {
      const stored = await this.#deps.files.readCertificate(directory, service);
      if (!stored) return;
      const cert = servingCertificate(stored.certPem, stored.keyPem, { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') });
      if (usable(cert, this.spec.hosts, this.#deps.now())) this.#cert = cert;
      else this.#deps.log.info({ service, hosts: this.spec.hosts, names: cert.names }, 'the stored certificate has expired or misses a host: ordering a new one');
    } catch (err) {
      this.#deps.log.warn({ service, dir, err: (err as Error).message }, 'the stored certificate is unusable: ordering a new one');
    }
  }

  start(): void {
    if (this.#phase.kind === 'new') this.#next();
  }

  stop(): void {
    if (this.#phase.kind === 'waiting') clearTimeout(this.#phase.timer);
    this.#phase = { kind: 'stopped' };
  }

  /** What handshakes get now. */
  get serving(): ServingCertificate {
    return this.#cert ?? this.#selfSigned;
  }

  status(): CertificateStatus {
    const s = this.serving;
    return {
      service: this.spec.service,
      hosts: [...this.spec.hosts],
      source: this.#cert ? 'acme' : 'self-signed',
      subject: s.subject,
      issuer: s.issuer,
      serial: s.serial,
      notAfter: iso(s.notAfter),
      ...(this.#cert ? { renewAt: iso(renewAt(this.#cert)) } : {}),
      ...(this.#phase.kind === 'ordering' ? { ordering: true } : {}),
      ...(this.#lastError ? { error: this.#lastError } : {}),
      ...(this.#retryAt !== undefined && this.#phase.kind !== 'ordering' ? { nextAttempt: iso(this.#retryAt) } : {}),
    };
  }

  #next(): void {
    if (this.#phase.kind === 'stopped') return;
    const now = this.#deps.now();
    const step = nextStep({ cert: this.#cert, retryAt: this.#retryAt }, now);
    if (step.kind === 'order') {
      void this.#order();
      return;
    }
    const timer = setTimeout(() => this.#next(), Math.min(step.until - now, maxWaitMs));
    timer.unref();
    this.#phase = { kind: 'waiting', until: step.until, reason: step.reason, timer };
  }

  async #order(): Promise<void> {
    const { service, hosts, directory, email } = this.spec;
    this.#phase = { kind: 'ordering', since: this.#deps.now() };
    this.#deps.onChange();
    this.#deps.log.info({ service, hosts, directory }, this.#cert ? 'renewing the ACME certificate' : 'ordering an ACME certificate');
    let cert: ServingCertificate;
    let pair: StoredPair;
    try {
      const client = await this.#deps.accounts.client(directory, email);
      const challenges = challengeOrder(this.spec.challenges, this.#failures);
      pair = await orderCertificate({ client, hosts, email, challenges, responses: this.#deps.responses });
      cert = servingCertificate(pair.certPem, pair.keyPem, { cert: `the certificate ${directory} issued`, key: 'its key' });
    } catch (err) {
      if (this.#stopped()) return;
      this.#failed(`ACME order failed: ${(err as Error).message}`);
      return;
    }
    if (this.#stopped()) return;
    let saveError: string | undefined;
    try {
      await this.#deps.files.writeCertificate(directory, service, pair);
    } catch (err) {
      // Serve it all the same; the next start orders again.
      saveError = `the certificate could not be saved in the data dir: ${(err as Error).message}`;
      this.#deps.log.error({ service, err: (err as Error).message }, 'the new certificate could not be saved in the data dir');
    }
    if (this.#stopped()) return;
    this.#issued(cert, saveError);
  }

  /** Read after an await: stop() may have come in between. */
  #stopped(): boolean {
    return this.#phase.kind === 'stopped';
  }

  #issued(cert: ServingCertificate, saveError: string | undefined): void {
    this.#cert = cert;
    this.#failures = 0;
    this.#lastError = saveError;
    this.#retryAt = undefined;
    this.#deps.log.info({ service: this.spec.service, hosts: this.spec.hosts, issuer: cert.issuer, serial: cert.serial, notAfter: iso(cert.notAfter), renewAt: iso(renewAt(cert)) }, 'ACME certificate issued');
    this.#next();
    this.#deps.onChange();
  }

  #failed(error: string): void {
    this.#failures++;
    this.#lastError = error;
    this.#retryAt = this.#deps.now() + retryDelay(this.#failures, this.#deps.retry);
    // The CA may have dropped the account: the next attempt asks for it again.
    this.#deps.accounts.doubt(this.spec.directory, this.spec.email);
    this.#deps.log.warn({ service: this.spec.service, hosts: this.spec.hosts, err: error, failures: this.#failures, nextAttempt: iso(this.#retryAt) }, 'ACME order failed');
    this.#next();
    this.#deps.onChange();
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
