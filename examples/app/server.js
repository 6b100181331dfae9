// The example app zdd's demo deploys: any process that listens on $PORT works the same way.
// Knobs (environment): APP_VERSION, ERROR_RATE (share of requests answered 500), EXTRA_LATENCY_MS,
// START_DELAY_MS (slow boot), CRASH_ON_START=1, UNHEALTHY=1 (health check fails). GET /status/<code>
// answers with that status; GET /flaky fails half the time.
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const env = process.env;
const version = env.APP_VERSION ?? 'dev';
const errorRate = Number(env.ERROR_RATE ?? 0);
const extraLatency = Number(env.EXTRA_LATENCY_MS ?? 0);

export function createApp() {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    if (url.pathname === '/healthz') {
      res.writeHead(env.UNHEALTHY === '1' ? 503 : 200, { 'content-type': 'text/plain' });
      return res.end(env.UNHEALTHY === '1' ? 'unhealthy\n' : 'ok\n');
    }
    const reply = (status, body) => {
      const text = JSON.stringify(body);
      const send = () => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-app-version': version });
        res.end(text);
      };
      extraLatency > 0 ? setTimeout(send, extraLatency) : send();
    };
    if (errorRate > 0 && Math.random() < errorRate) return reply(500, { error: 'injected failure', version });
    // /flaky fails half the time on every release: a broken integration's endpoint.
    if (url.pathname === '/flaky' && Math.random() < 0.5) return reply(500, { error: 'flaky endpoint', version });
    if (url.pathname === '/slow') {
      const ms = Number(url.searchParams.get('ms') ?? 1000);
      return void setTimeout(() => reply(200, { version, waited: ms }), ms);
    }
    if (url.pathname === '/echo') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        reply(200, { version, method: req.method, length: body.length, body: body.toString('utf8').slice(0, 1000), headers: req.headers });
      });
      return;
    }
    if (url.pathname === '/headers') return reply(200, { version, headers: req.headers });
    // /status/404, /status/503…: answers with that status, for trying out error handling.
    const asked = /^\/status\/([1-5]\d\d)$/.exec(url.pathname);
    if (asked) return reply(Number(asked[1]), { version, status: Number(asked[1]) });
    reply(200, { version, pid: process.pid, path: url.pathname });
  });
}

/** Stop accepting, finish what is in flight, exit: what every app should do on SIGTERM. */
export function stopGracefully(server) {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (env.CRASH_ON_START === '1') {
    console.error(`app ${version}: cannot start: DATABASE_URL is not set (CRASH_ON_START=1)`);
    process.exit(3);
  }
  const server = createApp();
  setTimeout(() => {
    server.listen(Number(env.PORT ?? 3000), env.HOST ?? '127.0.0.1', () => {
      console.log(`app ${version} listening on ${env.HOST ?? '127.0.0.1'}:${env.PORT ?? 3000} (pid ${process.pid})`);
    });
  }, Number(env.START_DELAY_MS ?? 0));
  process.on('SIGTERM', () => stopGracefully(server));
}
