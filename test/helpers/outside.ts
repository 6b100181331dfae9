// An "outside" host for tests: a network namespace joined to this machine by a veth pair, so a client
// connects from an address that is not loopback, as one on the internet would. Needs root and iproute2.
import { execFile, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './project.ts';

const run = promisify(execFile);

export interface OutsideRequest {
  /** A URL on this machine's side of the link (hostIp). */
  url: string;
  count: number;
  ratePerSecond: number;
  headers?: Record<string, string>;
}

export interface OutsideReply {
  status: number;
  body: string;
  setCookie: string[];
}

export interface OutsideHost {
  /** This machine's address on the link: where a service must listen to be reached from outside. */
  hostIp: string;
  /** The outside host's address: what zdd sees as the client. */
  outsideIp: string;
  /** Sends requests from the outside host; resolves with every reply, in order. */
  send(r: OutsideRequest): Promise<OutsideReply[]>;
  remove(): Promise<void>;
}

export async function createOutsideHost(): Promise<OutsideHost> {
  const id = randomInt(0x100000).toString(16).padStart(5, '0');
  const ns = `zddt-${id}`;
  const hostSide = `zvh${id}`;
  const outSide = `zvo${id}`;
  // A /30 in 10.199.0.0/16 picked at random: test files running at once get different ones.
  const block = randomInt(16_384) * 4;
  const net = `10.199.${block >> 8}.`;
  const hostIp = `${net}${(block & 255) + 1}`;
  const outsideIp = `${net}${(block & 255) + 2}`;
  const steps = [
    ['netns', 'add', ns],
    ['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', outSide],
    ['link', 'set', outSide, 'netns', ns],
    ['addr', 'add', `${hostIp}/30`, 'dev', hostSide],
    ['link', 'set', hostSide, 'up'],
    ['-n', ns, 'addr', 'add', `${outsideIp}/30`, 'dev', outSide],
    ['-n', ns, 'link', 'set', outSide, 'up'],
    ['-n', ns, 'link', 'set', 'lo', 'up'],
  ];
  const remove = async () => {
    await run('ip', ['link', 'del', hostSide]).catch(() => undefined);
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  };
  try {
    for (const args of steps) await run('ip', args);
  } catch (err) {
    await remove();
    throw new Error(`cannot create the outside test host (needs root and iproute2): ${(err as Error).message}`);
  }
  return {
    hostIp,
    outsideIp,
    remove,
    send: (r) =>
      new Promise((resolve, reject) => {
        const child = spawn('ip', ['netns', 'exec', ns, process.execPath, path.join(repoRoot, 'test/helpers/outside-client.ts'), JSON.stringify(r)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d));
        child.stderr.on('data', (d: Buffer) => (err += d));
        child.once('error', reject);
        child.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as OutsideReply[]) : reject(new Error(`outside client exited ${code}: ${err}`))));
      }),
  };
}
