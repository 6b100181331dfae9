// nginx and haproxy set up as the reference reverse proxies: one worker / one thread each, keep-alive to
// the upstream, X-Forwarded-For added, no access log. Both run in the foreground from a temp folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, makeTempDir, startProcess, waitForHttp, type Managed } from './procs.ts';

export interface StartedProxy {
  url: string;
  proc: Managed;
}

/** A site of nginxProxyConfig: what sets it apart from the others. */
export interface NginxSite {
  /** Directives of the `server` block before `location /` (listen, TLS …). */
  server: string[];
  /** More directives of `upstream app`, after its server and keepalive. */
  upstream?: string[];
  /** More directives of `location /`, after the proxy_* ones every site has. */
  location?: string[];
}

/**
 * nginx as the reference reverse proxy to 127.0.0.1:<upstreamPort>: one worker, keep-alive to the upstream,
 * Host and X-Forwarded-For passed on, no access log; its pid, error log and temp files in `dir`.
 */
export function nginxProxyConfig(dir: string, upstreamPort: number, site: NginxSite): string {
  const asRoot = process.getuid?.() === 0;
  const lines = (directives: string[] | undefined, indent: string) => (directives ?? []).map((d) => `${indent}${d}\n`).join('');
  return `# written by bench/lib/proxies.ts
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
${asRoot ? 'user root;  # the temp folder is root-only' : ''}
events {
  worker_connections 4096;
}
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/client_body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
${lines(site.upstream, '    ')}  }
  server {
${lines(site.server, '    ')}    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
${lines(site.location, '      ')}    }
  }
}
`;
}

export function nginxConfig(dir: string, listenPort: number, upstreamPort: number): string {
  return nginxProxyConfig(dir, upstreamPort, { server: [`listen 127.0.0.1:${listenPort};`] });
}

/**
 * nginx in the foreground from a temp folder of its own, `config(dir, port)` its nginx.conf (`port`: a free
 * one to listen on); resolves once `ready(port, proc)` does.
 */
export async function runNginx(
  nginx: string,
  config: (dir: string, port: number) => string,
  ready: (port: number, proc: Managed) => Promise<void>,
  tempPrefix = 'zdd-bench-nginx-',
): Promise<{ port: number; proc: Managed }> {
  const dir = makeTempDir(tempPrefix);
  mkdirSync(path.join(dir, 'tmp'));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, config(dir, port));
  const proc = startProcess('nginx', nginx, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf]);
  await ready(port, proc);
  return { port, proc };
}

export async function startNginx(nginx: string, upstreamPort: number): Promise<StartedProxy> {
  const { port, proc } = await runNginx(
    nginx,
    (dir, listenPort) => nginxConfig(dir, listenPort, upstreamPort),
    (listenPort, owner) => waitForHttp(`http://127.0.0.1:${listenPort}/healthz`, owner),
  );
  return { url: `http://127.0.0.1:${port}`, proc };
}

export function haproxyConfig(listenPort: number, upstreamPort: number): string {
  return `# written by bench/lib/proxies.ts
global
  nbthread 1
  maxconn 4096

defaults
  mode http
  option forwardfor
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s

frontend bench
  bind 127.0.0.1:${listenPort}
  default_backend app

backend app
  server app1 127.0.0.1:${upstreamPort}
`;
}

export async function startHaproxy(haproxy: string, upstreamPort: number): Promise<StartedProxy> {
  const dir = makeTempDir('zdd-bench-haproxy-');
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(port, upstreamPort));
  const proc = startProcess('haproxy', haproxy, ['-db', '-f', cfg]);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, proc);
  return { url, proc };
}
