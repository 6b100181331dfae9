import { errorCodes } from '../api/contract.ts';
import { ExitCode, ZddError } from '../errors.ts';
import { tlsConfigErrorCodes } from '../tls/error-codes.ts';

const usageCodes = new Set([
  'CONFIG_INVALID',
  'CONFIG_NOT_FOUND',
  'CONFIG_UNREADABLE',
  'SERVICE_UNKNOWN',
  'RELEASE_UNKNOWN',
  'BAD_REQUEST',
  'USAGE',
  // A listen address in zdd.yaml this machine will not give zdd: the config needs changing.
  'LISTEN_IN_USE',
  'LISTEN_DENIED',
  'LISTEN_UNAVAILABLE',
  // A tls: block whose certificate files cannot be served.
  ...tlsConfigErrorCodes,
]);

export function exitCodeFor(err: unknown): number {
  if (!(err instanceof ZddError)) return ExitCode.failed;
  if (usageCodes.has(err.code)) return ExitCode.usage;
  if (err.code === 'NO_DAEMON') return ExitCode.noDaemon;
  // The API's codes (the same whether the daemon is reached over its socket or over HTTP).
  const api = (errorCodes as Record<string, { exit: number }>)[err.code];
  if (api) return api.exit;
  return ExitCode.failed;
}

/** What a person reads when a command fails: the message, then what to do next. */
export function describeError(err: unknown): string {
  if (err instanceof ZddError) return `zdd: ${err.message}${err.hint ? `\n  → ${err.hint}` : ''}`;
  return `zdd: ${(err as Error)?.stack ?? String(err)}`;
}
