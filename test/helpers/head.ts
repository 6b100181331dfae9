import { spawn } from 'node:child_process';
import { zddBin } from './project.ts';

export interface HeadResult {
  lines: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * `zdd … | head -n N`: reads the first N lines, then closes the reading end of the pipe, as head does
 * when it exits. `afterClose` runs then (to make a following command write again).
 */
export function zddHead(cwd: string, args: string[], n: number, afterClose: () => void = () => {}): Promise<HeadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(zddBin, args, { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    let lines: string[] | undefined;
    child.stdout.on('data', (d: Buffer) => {
      if (lines) return;
      out += d;
      const all = out.split('\n');
      if (all.length <= n) return;
      lines = all.slice(0, n);
      child.stdout.destroy();
      afterClose();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ lines: lines ?? out.split('\n'), code, signal, stderr }));
  });
}
