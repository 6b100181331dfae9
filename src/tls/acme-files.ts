// Where ACME state lives in the data dir, readable by zdd's user only (directories 0700, files 0600):
//   <dataDir>/tls/acme/<directory-id>/accounts/<email-hash>.json   account key (PEM), contact, account URL
//   <dataDir>/tls/acme/<directory-id>/certs/<service>/{cert,key}.pem the site's certificate chain and key
// <directory-id> is the CA's host and a hash of its directory URL, so staging and production never mix.
// Files are replaced by rename, so a reader sees the old file or the new one, never half of one.
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface StoredAccount {
  directory: string;
  email: string;
  /** PEM private key: a secret. */
  key: string;
  /** Known once the CA has the account. */
  url?: string;
}

export interface StoredPair {
  certPem: string;
  keyPem: string;
}

export class AcmeFiles {
  readonly #tls: string;

  constructor(dataDir: string) {
    this.#tls = path.join(dataDir, 'tls');
  }

  directoryDir(directory: string): string {
    const url = new URL(directory);
    const host = url.host.replace(/[^a-zA-Z0-9.-]+/g, '_');
    return path.join(this.#tls, 'acme', `${host}-${hash(directory).slice(0, 8)}`);
  }

  accountFile(directory: string, email: string): string {
    return path.join(this.directoryDir(directory), 'accounts', `${hash(email.toLowerCase()).slice(0, 16)}.json`);
  }

  certDir(directory: string, service: string): string {
    return path.join(this.directoryDir(directory), 'certs', service);
  }

  async readAccount(directory: string, email: string): Promise<StoredAccount | undefined> {
    const text = await readIfThere(this.accountFile(directory, email));
    return text === undefined ? undefined : (JSON.parse(text) as StoredAccount);
  }

  async writeAccount(account: StoredAccount): Promise<void> {
    await this.#writePrivate(this.accountFile(account.directory, account.email), `${JSON.stringify(account, null, 2)}\n`);
  }

  async readCertificate(directory: string, service: string): Promise<StoredPair | undefined> {
    const dir = this.certDir(directory, service);
    const [certPem, keyPem] = [await readIfThere(path.join(dir, 'cert.pem')), await readIfThere(path.join(dir, 'key.pem'))];
    return certPem === undefined || keyPem === undefined ? undefined : { certPem, keyPem };
  }

  /** The key first: a crash between the two renames leaves a pair that fails its match check and is ordered again. */
  async writeCertificate(directory: string, service: string, pair: StoredPair): Promise<void> {
    const dir = this.certDir(directory, service);
    await this.#writePrivate(path.join(dir, 'key.pem'), pair.keyPem);
    await this.#writePrivate(path.join(dir, 'cert.pem'), pair.certPem);
  }

  async #writePrivate(file: string, text: string): Promise<void> {
    await this.#privateDirs(path.dirname(file));
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, text, { mode: 0o600, flag: 'w' });
      await chmod(tmp, 0o600);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Creates `dir` and its parents up to <dataDir>/tls, each 0700 (also when they existed with other modes). */
  async #privateDirs(dir: string): Promise<void> {
    const chain: string[] = [];
    for (let d = dir; d.startsWith(this.#tls); d = path.dirname(d)) chain.unshift(d);
    for (const d of chain) {
      await mkdir(d, { recursive: true, mode: 0o700 });
      await chmod(d, 0o700);
    }
  }
}

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
