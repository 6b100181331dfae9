// When an ACME site orders a certificate: pure decisions over plain values (tested without a CA or a clock).
import { covers } from './names.ts';

export interface Validity {
  notBefore: number;
  notAfter: number;
}

/** How orders are retried after failures: firstMs after the first, doubling up to maxMs, each ± jitter (a fraction). */
export interface RetryPolicy {
  firstMs: number;
  maxMs: number;
  jitter: number;
}

/** 1 min, 2, 4 … up to 3 h, ± 10 %: Let's Encrypt allows 5 failed validations per name and hour. */
export const defaultRetry: RetryPolicy = { firstMs: 60_000, maxMs: 3 * 3600_000, jitter: 0.1 };

/** Renewal is due two-thirds into a certificate's lifetime (day 60 of Let's Encrypt's 90). */
export function renewAt(v: Validity): number {
  return v.notBefore + Math.round(((v.notAfter - v.notBefore) * 2) / 3);
}

/** The wait after `failures` failed orders in a row (≥ 1); `random` in [0, 1) spreads retries of many sites. */
export function retryDelay(failures: number, p: RetryPolicy, random: () => number = Math.random): number {
  const base = Math.min(p.maxMs, p.firstMs * 2 ** Math.max(0, failures - 1));
  return Math.max(0, Math.round(base * (1 + p.jitter * (2 * random() - 1))));
}

/** Whether a certificate found on disk can serve a site: it names every host and has not expired. */
export function usable(cert: Validity & { names: readonly string[] }, hosts: readonly string[], now: number): boolean {
  return cert.notAfter > now && hosts.every((h) => covers(cert.names, h));
}

/**
 * The challenge types to offer an order, preferred first: after each failure the next type leads, so a site that
 * can answer both HTTP-01 and TLS-ALPN-01 does not fail the same way forever (acme-client answers one per name).
 */
export function challengeOrder<T>(available: readonly T[], failures: number): T[] {
  if (available.length === 0) return [];
  const shift = failures % available.length;
  return [...available.slice(shift), ...available.slice(0, shift)];
}

/** What an ACME site does next: order now, or wait until a time (its renewal, or the retry after a failure). */
export type AcmeStep = { kind: 'order' } | { kind: 'wait'; until: number; reason: 'renewal' | 'retry' };

export function nextStep(s: { cert: Validity | undefined; retryAt: number | undefined }, now: number): AcmeStep {
  if (s.retryAt !== undefined) return s.retryAt <= now ? { kind: 'order' } : { kind: 'wait', until: s.retryAt, reason: 'retry' };
  if (!s.cert) return { kind: 'order' };
  const due = renewAt(s.cert);
  return due <= now ? { kind: 'order' } : { kind: 'wait', until: due, reason: 'renewal' };
}
