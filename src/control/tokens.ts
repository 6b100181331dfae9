import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { roles, type Role, type TokenCreated, type TokenInfo } from '../api/contract.ts';
import { ZddError } from '../errors.ts';
import type { StoredToken, TokenTable } from '../store/tokens.ts';

// Bearer tokens of the HTTP control listener. A token is 32 random bytes (base64url) behind a "zdd_"
// prefix, so that secret scanners recognise it; only its SHA-256 is kept. Tokens are long random
// strings, so a fast hash is enough (nothing to brute-force); the comparison is constant-time anyway.

const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** last_used_at is written at most this often per token: a scrape every second must not write every second. */
const touchEveryMs = 60_000;

export class TokenRegistry {
  readonly #table: TokenTable;
  #cache: StoredToken[] | undefined;
  readonly #touched = new Map<string, number>();

  constructor(table: TokenTable) {
    this.#table = table;
  }

  create(name: unknown, role: unknown = 'deploy'): TokenCreated {
    if (typeof name !== 'string' || !namePattern.test(name)) {
      throw new ZddError('BAD_REQUEST', `a token name is 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit; got ${JSON.stringify(name)}`);
    }
    if (typeof role !== 'string' || !roles.includes(role as Role)) {
      throw new ZddError('BAD_REQUEST', `a token's role is ${roles.join(' or ')}; got ${JSON.stringify(role)}`);
    }
    if (this.#all().some((t) => t.name === name)) {
      throw new ZddError('TOKEN_EXISTS', `a token named ${name} exists already`, `revoke it first (zdd token revoke ${name}), or choose another name`);
    }
    const token = `zdd_${randomBytes(32).toString('base64url')}`;
    const createdAt = Date.now();
    this.#table.insert({ name, role: role as Role, hash: hashOf(token), createdAt });
    this.#cache = undefined;
    return { name, role: role as Role, createdAt, lastUsedAt: null, token };
  }

  list(): TokenInfo[] {
    return this.#all().map(({ name, role, createdAt, lastUsedAt }) => ({ name, role, createdAt, lastUsedAt }));
  }

  /** Whether that token still exists: not revoked (nor revoked and made again under its name). */
  has(token: Pick<TokenInfo, 'name' | 'createdAt'>): boolean {
    return this.#all().some((t) => t.name === token.name && t.createdAt === token.createdAt);
  }

  revoke(name: string): void {
    if (!this.#table.delete(name)) throw new ZddError('TOKEN_UNKNOWN', `no token named ${name}`, 'see the tokens with: zdd token list');
    this.#cache = undefined;
  }

  /** The token a bearer value belongs to, or undefined. Every stored hash is compared, in constant time. */
  verify(presented: string): TokenInfo | undefined {
    const hash = hashOf(presented);
    let found: StoredToken | undefined;
    for (const t of this.#all()) if (timingSafeEqual(t.hash, hash) && !found) found = t;
    if (!found) return undefined;
    const now = Date.now();
    if (now - (this.#touched.get(found.name) ?? 0) >= touchEveryMs) {
      this.#touched.set(found.name, now);
      try {
        this.#table.touch(found.name, now);
      } catch {
        // A full disk must not lock anyone out: "last used" is only informative.
      }
    }
    return { name: found.name, role: found.role, createdAt: found.createdAt, lastUsedAt: found.lastUsedAt };
  }

  #all(): StoredToken[] {
    this.#cache ??= this.#table.all();
    return this.#cache;
  }
}

function hashOf(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
