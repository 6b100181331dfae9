import { chmodSync, existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';

// Each entry moves the schema one version forward; never edit one that has shipped.
export const migrations: string[] = [
  `CREATE TABLE services (
     name TEXT PRIMARY KEY,
     created_at INTEGER NOT NULL,
     live_release_id INTEGER REFERENCES releases(id)
   );
   CREATE TABLE releases (
     id INTEGER PRIMARY KEY,
     service TEXT NOT NULL REFERENCES services(name),
     number INTEGER NOT NULL,
     version TEXT NOT NULL,
     spec TEXT NOT NULL,
     state TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     UNIQUE (service, number)
   );
   CREATE TABLE deployments (
     id INTEGER PRIMARY KEY,
     service TEXT NOT NULL REFERENCES services(name),
     kind TEXT NOT NULL,
     strategy TEXT NOT NULL,
     release_id INTEGER NOT NULL REFERENCES releases(id),
     from_release_id INTEGER REFERENCES releases(id),
     status TEXT NOT NULL,
     reason TEXT,
     started_at INTEGER NOT NULL,
     finished_at INTEGER
   );
   CREATE INDEX deployments_by_service ON deployments (service, id);
   CREATE TABLE deployment_steps (
     id INTEGER PRIMARY KEY,
     deployment_id INTEGER NOT NULL REFERENCES deployments(id),
     at INTEGER NOT NULL,
     step TEXT NOT NULL,
     status TEXT NOT NULL,
     detail TEXT
   );
   CREATE INDEX steps_by_deployment ON deployment_steps (deployment_id, id);
   CREATE TABLE events (
     id INTEGER PRIMARY KEY,
     at INTEGER NOT NULL,
     service TEXT,
     deployment_id INTEGER,
     type TEXT NOT NULL,
     message TEXT NOT NULL,
     data TEXT
   );
   CREATE INDEX events_by_service ON events (service, id);
   CREATE TABLE instances (
     id TEXT PRIMARY KEY,
     service TEXT NOT NULL,
     release_id INTEGER NOT NULL,
     pid INTEGER,
     port INTEGER NOT NULL,
     started_at INTEGER NOT NULL,
     stopped_at INTEGER,
     exit TEXT
   );`,
  // Releases are code: where a release's snapshot lives, what it was made from, its hooks' outcomes.
  `ALTER TABLE releases ADD COLUMN folder TEXT;
   ALTER TABLE releases ADD COLUMN source TEXT;
   ALTER TABLE releases ADD COLUMN hooks TEXT;
   ALTER TABLE releases ADD COLUMN build_key TEXT;
   ALTER TABLE releases ADD COLUMN pruned_at INTEGER;`,
  // What a release showed while it was live (its life's error rate, its last p99): canary guard rails.
  `ALTER TABLE releases ADD COLUMN metrics TEXT;`,
  // Tokens of the HTTP control API: only a hash of each is kept.
  `CREATE TABLE api_tokens (
     name TEXT PRIMARY KEY,
     role TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL,
     last_used_at INTEGER
   );`,
  // Notifications: each delivery's final outcome (endpoint shown without path or query, which may hold a token).
  `CREATE TABLE deliveries (
     id INTEGER PRIMARY KEY,
     at INTEGER NOT NULL,
     service TEXT NOT NULL,
     deployment_id INTEGER,
     event TEXT NOT NULL,
     endpoint TEXT NOT NULL,
     ok INTEGER NOT NULL,
     attempts INTEGER NOT NULL,
     status INTEGER,
     detail TEXT NOT NULL
   );
   CREATE INDEX deliveries_by_deployment ON deliveries (deployment_id, id);
   CREATE INDEX deliveries_by_service ON deliveries (service, id);`,
  // Each instance's process start time (clock ticks since boot): with the pid, it names the process, so a
  // daemon started after a crash re-adopts the instances still running, never a process that reused a pid.
  `ALTER TABLE instances ADD COLUMN start_time INTEGER;`,
  // zdd pause / zdd resume: a paused service (or one in maintenance) stays so across zdd restart and a crash.
  `CREATE TABLE pauses (
     service TEXT PRIMARY KEY,
     since INTEGER NOT NULL,
     maintenance TEXT
   );`,
];

export function openDatabase(file: string): DatabaseSync {
  const fresh = !existsSync(file);
  const db = new DatabaseSync(file);
  // The file holds release env values, which may be secrets.
  if (fresh) chmodSync(file, 0o600);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
  migrate(db);
  return db;
}

function migrate(db: DatabaseSync): void {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number };
  for (let v = row.user_version; v < migrations.length; v++) {
    db.exec('BEGIN');
    try {
      db.exec(migrations[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
}
