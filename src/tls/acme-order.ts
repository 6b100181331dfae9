// One ACME order (RFC 8555 §7.4, through acme-client's auto()): all of a site's hosts in one certificate, a fresh
// P-256 key, and each authorization answered by HTTP-01 or TLS-ALPN-01, whichever the site can answer and the CA
// offers, in the site's order of preference.
import tls from 'node:tls';
import * as acme from 'acme-client';
import type { ChallengeResponses, ChallengeType } from './challenges.ts';
import type { StoredPair } from './acme-files.ts';

export interface OrderRequest {
  client: acme.Client;
  hosts: readonly string[];
  email: string;
  /** The challenge types this site can answer, preferred first. */
  challenges: readonly ChallengeType[];
  responses: ChallengeResponses;
}

/** RFC 5280's upper bound for a subject common name; longer names go in the subjectAltName only. */
const maxCommonName = 64;

export async function orderCertificate(r: OrderRequest): Promise<StoredPair> {
  const keyPem = (await acme.crypto.createPrivateEcdsaKey()).toString();
  const first = r.hosts[0];
  const [, csr] = await acme.crypto.createCsr(
    { ...(first && first.length <= maxCommonName ? { commonName: first } : {}), altNames: [...r.hosts] },
    keyPem,
  );
  const answered = new Map<string, () => void>();
  const keyAuthorizations: string[] = [];
  try {
    const certPem = await r.client.auto({
      csr,
      email: r.email,
      termsOfServiceAgreed: true,
      // acme-client would check the challenge itself first by fetching it from here: the CA does that.
      skipChallengeVerification: true,
      challengePriority: [...r.challenges],
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        const name = authz.identifier.value;
        keyAuthorizations.push(keyAuthorization);
        // acme-client's types list http-01 and dns-01 only; tls-alpn-01 arrives all the same.
        const type: string = challenge.type;
        if (type === 'http-01' && r.challenges.includes('http-01')) {
          r.responses.addHttp01(challenge.token, keyAuthorization);
          answered.set(challenge.url, () => r.responses.removeHttp01(challenge.token));
        } else if (type === 'tls-alpn-01' && r.challenges.includes('tls-alpn-01')) {
          const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey());
          r.responses.addTlsAlpn01(name, tls.createSecureContext({ key, cert }));
          answered.set(challenge.url, () => r.responses.removeTlsAlpn01(name));
        } else {
          const offered = authz.challenges.map((c) => c.type).join(', ');
          throw new Error(`the CA offers no challenge zdd can answer for ${name} (offered: ${offered}; answerable here: ${r.challenges.join(', ') || 'none'})`);
        }
      },
      challengeRemoveFn: async (_authz, challenge) => {
        answered.get(challenge.url)?.();
        answered.delete(challenge.url);
      },
    });
    return { certPem, keyPem };
  } catch (err) {
    // CAs quote the expected key authorization in validation errors; it stays out of logs and status.
    let message = (err as Error).message ?? String(err);
    for (const k of keyAuthorizations) message = message.replaceAll(k, '[key authorization]');
    throw new Error(message);
  } finally {
    for (const remove of answered.values()) remove();
  }
}
