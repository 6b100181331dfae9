// nginx and haproxy set up as the reference reverse proxies: one worker / one thread each, keep-alive to
// the upstream, X-Forwarded-For added, no access log. Both run in the foreground from a temp folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, makeTempDir, startProcess, waitForHttp, type Managed } from './procs.ts';

export interface StartedProxy {
  url: string;
  proc: Managed;
}

export function nginxConfig(dir: string, listenPort: number, upstreamPort: number): string {
  const asRoot = process.getuid?.() === 0;
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
  }
  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;
}

export async function startNginx(nginx: string, upstreamPort: number): Promise<StartedProxy> {
  const dir = makeTempDir('zdd-bench-nginx-');
  mkdirSync(path.join(dir, 'tmp'));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, port, upstreamPort));
  const proc = startProcess('nginx', nginx, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf]);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, proc);
  return { url, proc };
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
