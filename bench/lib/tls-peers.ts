// The TLS bench's setting: one certificate made with openssl, and nginx (ssl + http2) and Caddy serving it
// in front of the upstream app, one worker / one thread each, as zdd does with its one daemon process.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { findTool, toolVersion } from './machine.ts';
import { freePort, makeTempDir, sleep, startProcess, type Managed } from './procs.ts';
import { nginxProxyConfig, runNginx } from './proxies.ts';

/** The name every client asks for (SNI where the tool can send it, Host / :authority always). */
export const benchHost = 'bench.test';

/** Debian/Ubuntu packages of the tools. */
const packages: Record<string, string> = { nginx: 'nginx-light', caddy: 'caddy', h2load: 'nghttp2-client', openssl: 'openssl' };

/** `apt-get install …` for a tool (all of them without a name). */
export function installHint(tool?: string): string {
  return `apt-get install ${tool ? (packages[tool] ?? tool) : Object.values(packages).join(' ')}`;
}

export interface TlsTool {
  name: string;
  file: string | undefined;
  version: string;
  /** Why it cannot be used although installed (an nginx without http_v2), else undefined. */
  unusable?: string;
}

/** BENCH_HIDE_TOOLS=nginx,caddy,h2load pretends those are not installed (to see what a bare CI machine prints). */
const hidden = new Set((process.env['BENCH_HIDE_TOOLS'] ?? '').split(',').map((s) => s.trim()));

const versionArgs: Record<string, string[]> = { nginx: ['-v'], caddy: ['version'], h2load: ['--version'], openssl: ['version'] };

export function detectTlsTool(name: 'nginx' | 'caddy' | 'h2load' | 'openssl'): TlsTool {
  const file = hidden.has(name) ? undefined : findTool(name);
  if (!file) return { name, file, version: 'not installed' };
  const version = toolVersion(file, versionArgs[name] ?? ['--version'])
    .replace(/^nginx version: /, '')
    .replace(/ \(Library: .*\)$/, '');
  if (name !== 'nginx') return { name, file, version };
  // The Debian nginx packages (-light included) have both; a custom build may not.
  const built = spawnText(file, ['-V']);
  const missing = ['http_ssl_module', 'http_v2_module'].filter((m) => !built.includes(`--with-${m}`));
  return { name, file, version, ...(missing.length ? { unusable: `built without ${missing.join(' and ')}` } : {}) };
}

/** What a command prints on stdout and stderr together (nginx -V prints on stderr). */
function spawnText(file: string, args: string[]): string {
  const r = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}

/** The line a tool gets in the report's header. */
export function toolLine(t: TlsTool): string {
  if (!t.file) return `- ${t.name}: not installed: ${installHint(t.name)}`;
  return `- ${t.name}: ${t.version} (${t.file})${t.unusable ? ` ⚠ ${t.unusable}` : ''}`;
}

export interface BenchCertificate {
  dir: string;
  /** Leaf then CA certificate, as a server sends its chain. */
  certFile: string;
  keyFile: string;
  caFile: string;
  describe: string;
}

/**
 * An ECDSA P-256 leaf for bench.test (and 127.0.0.1) signed by a CA of its own, so every server sends the same
 * two-certificate chain, as with a public CA's leaf + intermediate. P-256 is what zdd's ACME orders and most
 * sites use today; an RSA-2048 signature would cost each full handshake about 1 ms more, on every server alike.
 */
export function makeBenchCertificate(openssl: string): BenchCertificate {
  const dir = makeTempDir('zdd-bench-certs-');
  const at = (f: string) => path.join(dir, f);
  const run = (args: string[]) => execFileSync(openssl, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.crt'), '-days', '2', '-subj', '/CN=zdd bench CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  writeFileSync(at('leaf.ext'), `subjectAltName=DNS:${benchHost},IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
  run(['req', '-new', ...ec, '-keyout', at('site.key'), '-out', at('site.csr'), '-subj', `/CN=${benchHost}`]);
  run(['x509', '-req', '-in', at('site.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-set_serial', '0x1a2b3c4d',
    '-days', '2', '-extfile', at('leaf.ext'), '-out', at('leaf.crt')]);
  writeFileSync(at('site.crt'), readFileSync(at('leaf.crt'), 'utf8') + readFileSync(at('ca.crt'), 'utf8'));
  return {
    dir,
    certFile: at('site.crt'),
    keyFile: at('site.key'),
    caFile: at('ca.crt'),
    describe: `ECDSA P-256 leaf for ${benchHost} signed by a bench CA (chain of 2, made with openssl), the same files for every server`,
  };
}

export interface TlsPeer {
  port: number;
  proc: Managed;
}

/** nginx's own syntax for HTTP/2 changed in 1.25.1 (`http2 on;` instead of `listen … http2`). */
function nginxHasHttp2Directive(version: string): boolean {
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return true;
  const [maj, min, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return maj > 1 || (maj === 1 && (min > 25 || (min === 25 && patch >= 1)));
}

export function nginxTlsConfig(dir: string, port: number, appPort: number, cert: BenchCertificate, version: string): string {
  const h2on = nginxHasHttp2Directive(version);
  return nginxProxyConfig(dir, appPort, {
    upstream: ['keepalive_requests 1000000;'],
    server: [
      `listen 127.0.0.1:${port} ssl${h2on ? '' : ' http2'};`,
      ...(h2on ? ['http2 on;'] : []),
      `server_name ${benchHost};`,
      `ssl_certificate ${cert.certFile};`,
      `ssl_certificate_key ${cert.keyFile};`,
      '# TLS 1.3 is not in the default list before nginx 1.23.4.',
      'ssl_protocols TLSv1.2 TLSv1.3;',
      'ssl_session_cache shared:SSL:10m;',
      'ssl_session_tickets on;',
      '# The default (1000) would end each load generator connection with a GOAWAY every 1000 requests.',
      'keepalive_requests 1000000;',
    ],
    location: ['proxy_set_header X-Forwarded-Proto $scheme;'],
  });
}

export function startNginxTls(tool: TlsTool, appPort: number, cert: BenchCertificate): Promise<TlsPeer> {
  return runNginx(
    tool.file!,
    (dir, port) => nginxTlsConfig(dir, port, appPort, cert, tool.version),
    (port, proc) => waitForHttps(port, cert, proc),
    'zdd-bench-nginx-tls-',
  );
}

/** Caddy as a user would set it up for a certificate of their own: no admin API, no ACME, no HTTP/3. */
export function caddyfile(dir: string, port: number, appPort: number, cert: BenchCertificate): string {
  return `# written by bench/lib/tls-peers.ts
{
	admin off
	auto_https off
	# openssl s_time sends no SNI: serve bench.test's certificate to such clients too.
	default_sni ${benchHost}
	storage file_system ${dir}/data
	servers {
		protocols h1 h2
	}
}
https://${benchHost}:${port} {
	bind 127.0.0.1
	tls ${cert.certFile} ${cert.keyFile}
	reverse_proxy 127.0.0.1:${appPort}
}
`;
}

/** Caddy with GOMAXPROCS=1 (one thread runs Go code at a time: its one worker), HOME and XDG dirs in a temp folder. */
export async function startCaddy(tool: TlsTool, appPort: number, cert: BenchCertificate): Promise<TlsPeer> {
  const dir = makeTempDir('zdd-bench-caddy-');
  const port = await freePort();
  writeFileSync(path.join(dir, 'Caddyfile'), caddyfile(dir, port, appPort, cert));
  const env = { HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config'), GOMAXPROCS: '1' };
  const proc = startProcess('caddy', tool.file!, ['run', '--config', path.join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], { cwd: dir, env });
  await waitForHttps(port, cert, proc);
  return { port, proc };
}

/** Polls https://bench.test:<port>/healthz on 127.0.0.1 (SNI and Host bench.test, the bench CA) until it answers 2xx. */
export async function waitForHttps(port: number, cert: BenchCertificate, owner: Managed, timeoutMs = 15_000): Promise<void> {
  const ca = readFileSync(cert.caFile, 'utf8');
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (owner.proc.exitCode !== null || owner.proc.signalCode !== null) throw new Error(`${owner.name} exited (${await owner.exited}) before it answered on port ${port}:\n${owner.output()}`);
    const status = await new Promise<number | string>((resolve) => {
      const req = https.get({ host: '127.0.0.1', port, path: '/healthz', servername: benchHost, headers: { host: benchHost }, ca, agent: false, timeout: 1000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve(err.message));
    });
    if (typeof status === 'number' && status >= 200 && status < 300) return;
    last = typeof status === 'number' ? `status ${status}` : status;
    await sleep(100);
  }
  throw new Error(`https://${benchHost}:${port} did not answer in ${timeoutMs} ms (${last}); ${owner.name} said:\n${owner.output()}`);
}
