import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { ZddError } from '../errors.ts';

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The values of a dotenv file (KEY=value, # comments, quotes, `export`), read at deploy time: they are
 * recorded with the release, so a rollback runs with the values it was deployed with.
 */
export function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ZddError('ENV_FILE_UNREADABLE', `cannot read envFile ${file}: ${(err as Error).message}`, 'create it, or fix envFile in zdd.yaml');
  }
  const values = parseEnv(text) as Record<string, string>;
  const bad = Object.keys(values).find((k) => !envName.test(k));
  if (bad) throw new ZddError('ENV_FILE_UNREADABLE', `envFile ${file}: "${bad}" is not a valid variable name`, 'use letters, digits and _, not starting with a digit');
  return values;
}
