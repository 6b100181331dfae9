import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const length = 32;

/**
 * The key zdd signs its cookies with, kept in the data dir (mode 0600) so that clients keep their
 * sticky bucket across restarts of zdd. A fresh key (and a warning) when it cannot be stored.
 */
export function loadSecret(dataDir: string, warn: (message: string) => void): Buffer {
  const file = path.join(dataDir, 'secret');
  try {
    const stored = readFileSync(file);
    if (stored.length === length) return stored;
  } catch {
    // not created yet
  }
  const secret = randomBytes(length);
  try {
    writeFileSync(file, secret, { mode: 0o600 });
  } catch (err) {
    warn(`cannot store the cookie key in ${file} (${(err as Error).message}): sticky clients may change sides after a restart`);
  }
  return secret;
}
