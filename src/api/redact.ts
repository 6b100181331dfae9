// Release env often holds secrets: whatever leaves the daemon (API answers, logs) shows their names only.
const sensitive = /pass|secret|token|key|credential|auth|private|cookie|session|dsn|database_url/i;

export function redactEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) out[k] = sensitive.test(k) ? '[redacted]' : v;
  return out;
}
