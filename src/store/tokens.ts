import type { DatabaseSync } from 'node:sqlite';
import type { Role, TokenInfo } from '../api/contract.ts';

/** A token as kept: its name, role and the SHA-256 of the token (the token itself is never stored). */
export interface StoredToken extends TokenInfo {
  hash: Buffer;
}

/** The api_tokens table. Writes throw: creating or revoking a token must not silently fail. */
export class TokenTable {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  insert(t: { name: string; role: Role; hash: Buffer; createdAt: number }): void {
    this.#db.prepare('INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)').run(t.name, t.role, t.hash.toString('hex'), t.createdAt);
  }

  /** Whether a token of that name existed. */
  delete(name: string): boolean {
    return Number(this.#db.prepare('DELETE FROM api_tokens WHERE name = ?').run(name).changes) > 0;
  }

  all(): StoredToken[] {
    return (this.#db.prepare('SELECT * FROM api_tokens ORDER BY created_at, name').all() as Record<string, unknown>[]).map((r) => ({
      name: r.name as string,
      role: r.role as Role,
      hash: Buffer.from(r.hash as string, 'hex'),
      createdAt: r.created_at as number,
      lastUsedAt: (r.last_used_at as number | null) ?? null,
    }));
  }

  touch(name: string, at: number): void {
    this.#db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE name = ?').run(at, name);
  }
}
