import type { DatabaseSync } from 'node:sqlite';

/** A notification's final outcome: delivered (and after how many attempts), or failed and why. */
export interface DeliveryRecord {
  /** When the outcome was final. */
  at: number;
  service: string;
  /** The deployment it was about; null for an instance crash outside one. */
  deployment: number | null;
  /** deploy.started … instance.crashed. */
  event: string;
  /** The endpoint without path or query (a Slack webhook's path is its token): https://hooks.slack.com/… */
  endpoint: string;
  ok: boolean;
  attempts: number;
  /** The last HTTP status, if an answer came. */
  status: number | null;
  /** "delivered (HTTP 200)", "failed: timed out after 10s", "dropped: zdd stopped". */
  detail: string;
}

type Row = Record<string, unknown>;

/** The deliveries table: what `zdd history` shows of notifications. */
export class DeliveryTable {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Throws when the database cannot be written: the caller logs it (a journal entry, never a reason to stop). */
  add(d: DeliveryRecord): void {
    this.#db
      .prepare('INSERT INTO deliveries (at, service, deployment_id, event, endpoint, ok, attempts, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(d.at, d.service, d.deployment, d.event, d.endpoint, d.ok ? 1 : 0, d.attempts, d.status, d.detail);
  }

  /** The deliveries about one deployment, oldest first. */
  forDeployment(deployment: number): DeliveryRecord[] {
    return (this.#db.prepare('SELECT * FROM deliveries WHERE deployment_id = ? ORDER BY id').all(deployment) as Row[]).map(toRecord);
  }

  /** The newest deliveries of a service about no deployment (instance crashes), newest first. */
  outsideDeployments(service: string, limit: number): DeliveryRecord[] {
    const sql = 'SELECT * FROM deliveries WHERE service = ? AND deployment_id IS NULL ORDER BY id DESC LIMIT ?';
    return (this.#db.prepare(sql).all(service, limit) as Row[]).map(toRecord);
  }
}

function toRecord(r: Row): DeliveryRecord {
  return {
    at: r.at as number,
    service: r.service as string,
    deployment: (r.deployment_id as number | null) ?? null,
    event: r.event as string,
    endpoint: r.endpoint as string,
    ok: r.ok === 1,
    attempts: r.attempts as number,
    status: (r.status as number | null) ?? null,
    detail: r.detail as string,
  };
}
