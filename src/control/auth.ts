import type { IncomingMessage } from 'node:http';
import type { TokenInfo } from '../api/contract.ts';
import { ZddError } from '../errors.ts';
import type { TokenRegistry } from './tokens.ts';

// Who may use the HTTP control listener: a valid bearer token. Guessing is pointless (256-bit tokens),
// but an address that keeps failing is slowed down anyway: after `maxFailures` failures within
// `windowMs`, it gets 429 until the window has passed — valid tokens included, so that a flood of
// guesses cannot be hidden among good requests.

export interface AuthLimits {
  maxFailures: number;
  windowMs: number;
  /** Addresses remembered at most (a flood from many addresses must not grow memory without bound). */
  maxAddresses: number;
}

export const defaultAuthLimits: AuthLimits = { maxFailures: 10, windowMs: 60_000, maxAddresses: 10_000 };

export class Authenticator {
  readonly #tokens: TokenRegistry;
  readonly #limits: AuthLimits;
  /** Failures per address in the current window (Map order = first failure order, for eviction). */
  readonly #failures = new Map<string, { count: number; since: number }>();

  constructor(tokens: TokenRegistry, limits: AuthLimits = defaultAuthLimits) {
    this.#tokens = tokens;
    this.#limits = limits;
  }

  /** The token of a request, or a ZddError: UNAUTHORIZED (401) or RATE_LIMITED (429, with retryAfter seconds). */
  authenticate(req: IncomingMessage, address: string, now = Date.now()): TokenInfo {
    const seen = this.#failures.get(address);
    if (seen && now - seen.since >= this.#limits.windowMs) this.#failures.delete(address);
    const failures = this.#failures.get(address);
    if (failures && failures.count >= this.#limits.maxFailures) {
      const retryAfter = Math.max(1, Math.ceil((failures.since + this.#limits.windowMs - now) / 1000));
      throw Object.assign(new ZddError('RATE_LIMITED', `too many failed attempts from ${address}; try again in ${retryAfter}s`), { retryAfter });
    }
    const header = req.headers.authorization;
    const match = header === undefined ? undefined : /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(header);
    const token = match ? this.#tokens.verify(match[1]!) : undefined;
    if (token) return token;
    // A request without a token guesses nothing (a dashboard's first load, a misconfigured scraper): only wrong tokens count.
    if (header !== undefined) this.#fail(address, now);
    throw new ZddError(
      'UNAUTHORIZED',
      header === undefined ? 'this request needs a token: Authorization: Bearer <token>' : 'the token is not valid (mistyped, revoked, or for another daemon)',
      "create one on the daemon's machine: zdd token create --name NAME [--role read]; the CLI reads it from ZDD_TOKEN",
    );
  }

  #fail(address: string, now: number): void {
    const f = this.#failures.get(address);
    if (f) return void f.count++;
    if (this.#failures.size >= this.#limits.maxAddresses) {
      // Forget the oldest window first.
      this.#failures.delete(this.#failures.keys().next().value!);
    }
    this.#failures.set(address, { count: 1, since: now });
  }
}
