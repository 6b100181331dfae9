import { z } from 'zod';
import { parseLongDuration } from './duration.ts';

// A service's TLS settings as written in zdd.yaml: certificate files, or certificates obtained by ACME.

export const letsEncryptProduction = 'https://acme-v02.api.letsencrypt.org/directory';
export const letsEncryptStaging = 'https://acme-staging-v02.api.letsencrypt.org/directory';

/** Certificate and key files (PEM). In zdd.yaml relative to it; absolute once loaded (ServiceConfig). */
export interface TlsFilesSpec {
  cert: string;
  key: string;
}

export interface AcmeSpec {
  /** Contact for the ACME account (expiry warnings). */
  email: string;
  /** The ACME directory URL, https; Let's Encrypt production unless set ("staging": Let's Encrypt staging). */
  directory: string;
}

export interface TlsAcmeSpec {
  acme: AcmeSpec;
}

/** Either shape; tell them apart with `'acme' in tls`. */
export type TlsSpec = TlsFilesSpec | TlsAcmeSpec;

const email = z
  .string({ error: 'expected an email address such as ops@example.com' })
  .trim()
  .regex(/^[^\s@]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, 'must be an email address such as ops@example.com: the ACME server sends expiry warnings there');

const directory = z.string({ error: 'expected the URL of an ACME directory, or staging' }).transform((v, ctx) => {
  const s = v.trim();
  if (s === 'staging') return letsEncryptStaging;
  let url: URL | undefined;
  try {
    url = new URL(s);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not an https URL; write the ACME directory's URL (https://…/directory), or staging for Let's Encrypt's staging` });
    return z.NEVER;
  }
  return s;
});

const acme = z.strictObject({ email, directory: directory.default(letsEncryptProduction) });

const file = z.string({ error: 'expected a file path, relative to zdd.yaml' }).min(1, 'must not be empty');

export const tls = z
  .strictObject({ cert: file.optional(), key: file.optional(), acme: acme.optional() }, { error: 'expected { cert: file, key: file } or { acme: { email: … } }' })
  .superRefine((t, ctx) => {
    const files = t.cert !== undefined || t.key !== undefined;
    let message: string | undefined;
    if (t.acme && files) message = 'write either cert and key (files) or acme, not both';
    else if (!t.acme && !files) message = 'write cert and key (PEM files, relative to zdd.yaml), or acme: { email: … } to obtain certificates';
    else if (!t.acme && t.key === undefined) message = 'needs key as well as cert';
    else if (!t.acme && t.cert === undefined) message = 'needs cert as well as key';
    if (message) ctx.addIssue({ code: 'custom', message });
  })
  .transform((t): TlsSpec => (t.acme ? { acme: t.acme } : { cert: t.cert!, key: t.key! }));

/** Strict-Transport-Security max-age, in ms (a whole number of seconds); days allowed, no 24-day cap. */
export const hsts = z.string({ error: 'expected a duration such as 365d' }).transform((s, ctx) => {
  const ms = parseLongDuration(s);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration; write a number with s, m, h or d, e.g. 365d` });
    return z.NEVER;
  }
  if (ms % 1000 !== 0) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a whole number of seconds, which HSTS max-age counts` });
    return z.NEVER;
  }
  return ms;
});
