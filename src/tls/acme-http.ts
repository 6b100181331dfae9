// How zdd talks to ACME directories through acme-client (which uses axios over Node's https module).
//
// Trust: requests use Node's default CA store, so a private directory (Pebble, a company CA) is trusted by starting
// zdd with NODE_EXTRA_CA_CERTS=<PEM file> — Node's standard variable, read once at process start.
import * as acme from 'acme-client';
import axios, { type AxiosAdapter, type AxiosError } from 'axios';

/** Let's Encrypt production: the directory when tls.acme names none. */
export const defaultAcmeDirectory = acme.directory.letsencrypt.production;

/** A directory URL from tls.acme.directory: absent → Let's Encrypt production; "staging" → Let's Encrypt staging. */
export function acmeDirectoryUrl(directory: string | undefined): string {
  if (directory === undefined || directory === '' || directory === 'production') return defaultAcmeDirectory;
  if (directory === 'staging') return acme.directory.letsencrypt.staging;
  return directory;
}

const requestTimeoutMs = 30_000;

/** acme-client's HTTP settings (process-wide, idempotent): a timeout, no retries inside a request, true errors. */
export function configureAcmeHttp(): void {
  acme.axios.defaults.timeout = requestTimeoutMs;
  acme.axios.defaults.adapter = networkErrorsAsIs;
  // acme-client retries a request on network errors, 429 and 5xx up to 5 times, 5 s apart or after Retry-After (hours
  // for rate limits), inside the order. zdd retries whole orders with its own backoff (renewal.ts) and reports each
  // failure in status, so one attempt per request here. (Bad nonces are still retried: that is part of the protocol.)
  const settings = (acme.axios.defaults as { acmeSettings?: { retryMaxAttempts: number } }).acmeSettings;
  if (settings) settings.retryMaxAttempts = 0;
}

const httpAdapter = axios.getAdapter('http');

/**
 * Node's http adapter, except that a request that got no response (refused, timed out, untrusted certificate) fails
 * with its own message. acme-client's response interceptor reads error.response.config unguarded and turns every
 * such failure into "Cannot read properties of undefined (reading 'config')" (publishlab/node-acme-client#101);
 * an error without .config passes it untouched.
 */
const networkErrorsAsIs: AxiosAdapter = async (config) => {
  try {
    return await httpAdapter(config);
  } catch (err) {
    if ((err as AxiosError).response) throw err;
    const e = err as AxiosError;
    const untrusted = e.code !== undefined && untrustedCodes.has(e.code);
    const hint = untrusted ? ` (${config.url ?? 'the directory'} presents a certificate Node does not trust; for a private CA, start zdd with NODE_EXTRA_CA_CERTS=<its CA file>)` : '';
    throw Object.assign(new Error(`${e.message}${hint}`), { code: e.code });
  }
};

/** OpenSSL's verification failures as Node reports them (err.code). */
const untrustedCodes = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED']);
