import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// TLS session ticket keys, kept in <dataDir>/tls/ticket-keys (0600), so that a client's ticket stays
// good across `zdd restart` and certificate reloads: Node would make fresh random keys for each new
// server (and keeps them across setSecureContext only when they were given). They are replaced once a
// day: a stolen key file would let its holder decrypt resumed sessions, for that day only.

/** 16 bytes of name, 16 of HMAC secret, 16 of AES key: what tls.createServer({ ticketKeys }) takes. */
const keyBytes = 48;
export const ticketKeyLifetimeMs = 24 * 3600_000;

interface Stored {
  createdAt: number;
  keys: string;
}

/** The current keys, made (and written) when there are none or they are older than a day. Never throws for a bad file. */
export function ticketKeys(dataDir: string, now = Date.now()): Buffer {
  const file = path.join(dataDir, 'tls', 'ticket-keys');
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Stored;
    const keys = Buffer.from(stored.keys, 'hex');
    if (keys.length === keyBytes && now - stored.createdAt < ticketKeyLifetimeMs && stored.createdAt <= now) return keys;
  } catch {
    // none yet, or unreadable: make new ones
  }
  const keys = randomBytes(keyBytes);
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ createdAt: now, keys: keys.toString('hex') } satisfies Stored), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch {
    // A full or read-only disk: serve with keys of this process only (resumption just ends at restart).
    rmSync(`${file}.${process.pid}.tmp`, { force: true });
  }
  return keys;
}
