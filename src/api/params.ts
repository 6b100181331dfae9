import { ZddError } from '../errors.ts';

// What the control API accepts from a request: anything else is a 400 naming the parameter, never a
// silent default (a rollback "to" of "3" must not roll back to the previous release instead).

/** How many releases and deployments one history request lists. The CLI checks -n against the same range. */
export const historyLimit = { min: 1, max: 500, default: 20 } as const;

/** text as a whole number from min to max, written in plain digits; undefined for anything else. */
export function integerIn(text: string, min: number, max: number): number | undefined {
  if (!/^\d{1,15}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

/** A path segment, percent-decoded. */
export function pathParam(raw: string, name: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest(`the ${name} in the path is not valid percent-encoding: "${raw}"`);
  }
}

/** ?limit= of a history request: absent means the default. */
export function limitParam(query: URLSearchParams): number {
  const raw = query.get('limit');
  if (raw === null) return historyLimit.default;
  const n = integerIn(raw, historyLimit.min, historyLimit.max);
  if (n === undefined) throw badRequest(`limit must be a whole number from ${historyLimit.min} to ${historyLimit.max}, got "${raw}"`);
  return n;
}

export function optionalString(v: unknown, name: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw badRequest(`${name} must be a non-empty string`);
  return v;
}

/** A path on the daemon's machine; relative paths are refused (relative to what?). */
export function absolutePath(v: unknown, name: string): string | undefined {
  const s = optionalString(v, name);
  if (s !== undefined && !s.startsWith('/')) throw badRequest(`${name} must be an absolute path, got "${s}"`);
  return s;
}

export function optionalBoolean(v: unknown, name: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** A release number: a whole number from 1. */
export function optionalRelease(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw badRequest(`${name} must be a release number (a whole number from 1), got ${JSON.stringify(v)}`);
  return v;
}

export function env(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('env must be an object');
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw badRequest(`env name "${k}" is not valid: use letters, digits and _`);
    if (typeof val !== 'string') throw badRequest(`env ${k} must be a string, got ${val === null ? 'null' : typeof val}`); // never echo a value: it may be a secret
    out[k] = val;
  }
  return out;
}

export function badRequest(message: string): ZddError {
  return new ZddError('BAD_REQUEST', message);
}
