import { spawn } from 'node:child_process';
import { zddBin } from './project.ts';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/zdd as a user would, from `cwd`; under `launcher` if given (e.g. nsenter into another mount namespace). */
export function zdd(cwd: string, args: string[], env: Record<string, string> = {}, launcher: string[] = []): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [file, ...pre] = [...launcher, zddBin];
    const child = spawn(file!, [...pre, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** zdd … --json, parsed; throws with the output when the command failed. */
export async function zddJson<T>(cwd: string, args: string[]): Promise<T> {
  const r = await zdd(cwd, [...args, '--json']);
  if (r.code !== 0) throw new Error(`zdd ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

/** Deploys a release labelled `label` whose app reports that label (APP_VERSION), with extra env. */
export function deployLabelled(cwd: string, label: string, env: Record<string, string> = {}): Promise<CliResult> {
  const args = ['deploy', 'web', '--version', label, '--env', `APP_VERSION=${label}`];
  for (const [k, v] of Object.entries(env)) args.push('--env', `${k}=${v}`);
  return zdd(cwd, args);
}
