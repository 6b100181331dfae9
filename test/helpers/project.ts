import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const zddBin = path.join(repoRoot, 'bin', 'zdd');
/** The test app: the example app plus a WebSocket echo. */
export const testAppDir = path.join(repoRoot, 'test', 'fixtures');

export interface Project {
  dir: string;
  write(yaml: string): void;
  remove(): void;
}

/** A temporary folder holding a zdd.yaml, as a user's project would. */
export function makeProject(yaml?: string): Project {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdd-test-'));
  const p: Project = {
    dir,
    write: (text) => writeFileSync(path.join(dir, 'zdd.yaml'), text),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  if (yaml !== undefined) p.write(yaml);
  return p;
}

export interface ServiceOptions {
  port: number;
  replicas?: number;
  env?: Record<string, string>;
  strategy?: string;
  drainTimeout?: string;
  stopTimeout?: string;
  startTimeout?: string;
  extra?: string;
}

/** A one-service zdd.yaml for the test app with fast health checks. */
export function serviceYaml(o: ServiceOptions): string {
  const env = { APP_VERSION: 'v1', ...o.env };
  return `services:
  web:
    listen: 127.0.0.1:${o.port}
    command: node app.js
    cwd: ${testAppDir}
    env: ${JSON.stringify(env)}
    replicas: ${o.replicas ?? 2}
    health: { path: /healthz, interval: 50ms, timeout: 1s, startTimeout: ${o.startTimeout ?? '10s'} }
    strategy: ${o.strategy ?? '{ type: blue-green, rollbackWindow: 1s }'}
    drainTimeout: ${o.drainTimeout ?? '5s'}
    stopTimeout: ${o.stopTimeout ?? '2s'}
${o.extra ?? ''}`;
}
