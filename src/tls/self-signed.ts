// The certificate served while no real one exists (an ACME order not yet done): self-signed for the site's names,
// so that TLS works at once and clients see why they are warned ("zdd self-signed").
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const validityMs = 365 * 24 * 3600_000;

/** The subject organisation that marks zdd's self-signed certificates. */
export const selfSignedOrganization = 'zdd self-signed';

/** A fresh P-256 key and a self-signed certificate naming `hosts` (any "*.x.y" included), valid for a year. */
export async function selfSignedPem(hosts: readonly string[], now = Date.now()): Promise<{ certPem: string; keyPem: string }> {
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
  ];
  if (hosts.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(hosts.map((value) => ({ type: 'dns' as const, value }))));
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      // Positive (first bit clear) and unique enough: 16 random bytes.
      serialNumber: `01${randomBytes(15).toString('hex')}`,
      name: `CN=${hosts[0] ?? 'zdd'}, O=${selfSignedOrganization}`,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + validityMs),
      keys,
      signingAlgorithm: algorithm,
      extensions,
    },
    webcrypto,
  );
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}
