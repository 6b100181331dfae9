// Let's Encrypt's Pebble (Debian's /usr/bin/pebble), started with a config of its own in a temp dir: its HTTPS
// API on 127.0.0.1 with a certificate from a test CA, free ports, and optionally pebble-challtestsrv as its DNS
// server (which answers every A query with 127.0.0.1), so that real HTTP-01 and TLS-ALPN-01 validations reach
// the code under test on httpPort / tlsPort.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeCa, makeLeaf, tempDir } from './certs.ts';
import { freePort } from './ports.ts';

export interface PebbleOptions {
  /** Where Pebble validates HTTP-01 challenges (its "httpPort"). */
  httpPort: number;
  /** Where Pebble validates TLS-ALPN-01 challenges (its "tlsPort"). */
  tlsPort: number;
  /** PEBBLE_VA_ALWAYS_VALID=1: every challenge passes without a validation request. */
  alwaysValid?: boolean;
  /** Resolve every name to 127.0.0.1 through pebble-challtestsrv (needed for real validations of test names). */
  mockDns?: boolean;
  /** Lifetime of the certificates it issues (Pebble's default is 5 years). */
  validitySeconds?: number;
}

export interface Pebble {
  /** The ACME directory URL. */
  directory: string;
  /** The test CA's certificate file that signed Pebble's HTTPS certificate: pass it as NODE_EXTRA_CA_CERTS. */
  caBundle: string;
  /** Pebble's root CA certificate (made at its start): the trust anchor for the certificates it issues. */
  rootPem(): Promise<string>;
  /** Pebble's own log so far (one line per request: "POST /order-plz -> calling handler()"). */
  log(): string;
  /** How many requests Pebble logged whose path is `urlPath` (e.g. "/order-plz", "/sign-me-up"). */
  requests(urlPath: string): number;
  stop(): Promise<void>;
}

const startTimeoutMs = 10_000;

export async function startPebble(o: PebbleOptions): Promise<Pebble> {
  const dir = tempDir('zdd-pebble-');
  const ca = makeCa(dir, 'zdd pebble API CA');
  const api = makeLeaf(ca, ['localhost'], { ips: ['127.0.0.1'], file: 'pebble-api' });
  const [listen, management] = [await freePort(), await freePort()];
  const config = path.join(dir, 'pebble-config.json');
  writeFileSync(config, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${listen}`,
      managementListenAddress: `127.0.0.1:${management}`,
      certificate: api.certFile,
      privateKey: api.keyFile,
      httpPort: o.httpPort,
      tlsPort: o.tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(o.validitySeconds ? { certificateValidityPeriod: o.validitySeconds } : {}),
    },
  }));
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(stopChild));
  };
  try {
    const args = ['-config', config];
    if (o.mockDns) {
      const [dns, dnsManagement] = [await freePort(), await freePort()];
      const challtestsrv = spawnTracked('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dns}`, '-management', `127.0.0.1:${dnsManagement}`,
        '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''], {});
      children.push(challtestsrv.child);
      await answers(`http://127.0.0.1:${dnsManagement}/`, undefined, challtestsrv);
      args.push('-dnsserver', `127.0.0.1:${dns}`);
    }
    const env: Record<string, string> = { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' };
    if (o.alwaysValid) env.PEBBLE_VA_ALWAYS_VALID = '1';
    const pebble = spawnTracked('pebble', args, env);
    children.push(pebble.child);
    const directory = `https://127.0.0.1:${listen}/dir`;
    await answers(directory, ca.certPem, pebble);
    return {
      directory,
      caBundle: ca.certFile,
      rootPem: () => fetchText(`https://127.0.0.1:${management}/roots/0`, ca.certPem),
      log: () => pebble.output(),
      requests: (urlPath) => pebble.output().split('\n').filter((l) => l.includes(` ${urlPath} -> `)).length,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

interface Tracked {
  child: ChildProcess;
  output(): string;
  exited: Promise<unknown>;
}

const running = new Set<ChildProcess>();
// A test process that ends without stopping its Pebble (a failed assertion before cleanup) leaves no process behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function spawnTracked(command: string, args: string[], env: Record<string, string>): Tracked {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let text = '';
  const collect = (chunk: Buffer) => {
    text += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = once(child, 'exit');
  void exited.then(() => running.delete(child), () => running.delete(child));
  return { child, output: () => text, exited };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const force = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(force);
}

/** Resolves once `url` answers any HTTP status; rejects when the process exits first or after the deadline. */
async function answers(url: string, ca: string | undefined, proc: Tracked): Promise<void> {
  const deadline = Date.now() + startTimeoutMs;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`${proc.child.spawnfile} exited before ${url} answered:\n${proc.output()}`);
    if (await get(url, ca)) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${startTimeoutMs} ms:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function fetchText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${url}: ${res.statusCode} ${text}`))));
      })
      .on('error', reject);
  });
}

function get(url: string, ca: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const req = url.startsWith('https:') ? https.get(url, { ca, timeout: 1000 }) : http.get(url, { timeout: 1000 });
    req.on('response', (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
