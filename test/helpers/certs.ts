// Certificates made by the tests with the openssl CLI: a CA of their own and leaf certificates it signs.
// Independent of src/tls (which makes its self-signed certificates with @peculiar/x509).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Pem {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
}

export type Ca = Pem & { name: string };

const made: string[] = [];
process.once('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp dir, for certificates or anything else a test writes; removed when the test process exits. */
export function tempDir(prefix = 'zdd-tls-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A CA (P-256, valid for `days`) whose certificate and key sit in `dir`. */
export function makeCa(dir: string, name = 'zdd test CA', days = 2): Ca {
  const certFile = path.join(dir, `${slug(name)}.crt`);
  const keyFile = path.join(dir, `${slug(name)}.key`);
  openssl(['req', '-x509', ...ecKey, '-keyout', keyFile, '-out', certFile, '-days', String(days), '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { name, certFile, keyFile, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

export interface LeafOptions {
  /** Where the files go (the CA's dir by default). */
  dir?: string;
  /** File name stem (the first name by default). */
  file?: string;
  days?: number;
  /** IP addresses to add to the subjectAltName. */
  ips?: string[];
}

/**
 * A server certificate for `names` (DNS names, wildcards allowed) signed by `ca`, with a random serial. certPem
 * (and certFile) hold the leaf then the CA certificate, as a server sends its chain.
 */
export function makeLeaf(ca: Ca, names: string[], o: LeafOptions = {}): Pem & { serial: string } {
  const dir = o.dir ?? path.dirname(ca.certFile);
  const stem = o.file ?? slug(names[0] ?? 'leaf');
  const keyFile = path.join(dir, `${stem}.key`);
  const certFile = path.join(dir, `${stem}.crt`);
  const csr = path.join(dir, `${stem}.csr`);
  const ext = path.join(dir, `${stem}.ext`);
  const sans = [...names.map((n) => `DNS:${n}`), ...(o.ips ?? []).map((ip) => `IP:${ip}`)].join(',');
  writeFileSync(ext, `subjectAltName=${sans}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
  openssl(['req', '-new', ...ecKey, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${names[0] ?? 'leaf'}`]);
  const serial = randomBytes(8).toString('hex').replace(/^./, '1');
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${serial}`,
    '-days', String(o.days ?? 2), '-extfile', ext, '-out', certFile]);
  const certPem = readFileSync(certFile, 'utf8') + ca.certPem;
  writeFileSync(certFile, certPem);
  return { certFile, keyFile, certPem, keyPem: readFileSync(keyFile, 'utf8'), serial: serial.toUpperCase() };
}

function slug(name: string): string {
  return name.replace(/^\*/, 'star').replace(/[^a-zA-Z0-9.-]+/g, '_');
}
