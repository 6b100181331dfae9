// ACME accounts, one per directory and email: the key is made once and kept in the data dir (before the CA hears of
// it, so a crash cannot orphan an account), the account is registered once (email as contact, terms agreed) and its
// URL kept, and later runs use it without asking the CA again.
import * as acme from 'acme-client';
import type { Logger } from 'pino';
import type { AcmeFiles } from './acme-files.ts';

/** How acme-client polls a pending challenge or order: minMs, doubling up to maxMs. */
export interface AcmePolling {
  minMs: number;
  maxMs: number;
}

export const defaultPolling: AcmePolling = { minMs: 5000, maxMs: 30_000 };

export class AcmeAccounts {
  readonly #files: AcmeFiles;
  readonly #log: Logger;
  readonly #polling: AcmePolling;
  readonly #clients = new Map<string, Promise<acme.Client>>();
  /** Accounts whose last order failed: their stored URL is checked with the CA again (it may have dropped it). */
  readonly #doubtful = new Set<string>();

  constructor(files: AcmeFiles, log: Logger, polling: AcmePolling) {
    this.#files = files;
    this.#log = log;
    this.#polling = polling;
  }

  /** A client signed by the account for (directory, email); concurrent orders share one registration. */
  client(directory: string, email: string): Promise<acme.Client> {
    const id = `${directory}\n${email}`;
    let client = this.#clients.get(id);
    if (!client) {
      const opening = this.#open(directory, email, this.#doubtful.has(id));
      this.#clients.set(id, opening);
      opening.then(
        () => this.#doubtful.delete(id),
        () => this.#clients.get(id) === opening && this.#clients.delete(id),
      );
      client = opening;
    }
    return client;
  }

  /** After a failed order: the next client() asks the CA for the account again (same key, so the same account). */
  doubt(directory: string, email: string): void {
    const id = `${directory}\n${email}`;
    this.#clients.delete(id);
    this.#doubtful.add(id);
  }

  async #open(directory: string, email: string, lookUp: boolean): Promise<acme.Client> {
    const stored = await this.#files.readAccount(directory, email);
    const options = { directoryUrl: directory, backoffMin: this.#polling.minMs, backoffMax: this.#polling.maxMs };
    if (stored?.url && !lookUp) return new acme.Client({ ...options, accountKey: stored.key, accountUrl: stored.url });
    const key = stored?.key ?? (await acme.crypto.createPrivateEcdsaKey()).toString();
    if (!stored) await this.#files.writeAccount({ directory, email, key });
    const client = new acme.Client({ ...options, accountKey: key });
    // With a known key the CA answers with the existing account (RFC 8555 §7.3.1) and the contact is updated.
    await client.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${email}`] });
    const url = client.getAccountUrl();
    if (url !== stored?.url) {
      await this.#files.writeAccount({ directory, email, key, url });
      this.#log.info({ directory, account: url }, stored?.url ? 'ACME account registered again' : 'ACME account registered');
    }
    return client;
  }
}
