// The upstream app the benches put behind each proxy: plain Node, no dependencies, listens on $HOST:$PORT
// (what zdd sets for its instances).
//
//   GET  /          hello world: a 13-byte body, so a proxy's own cost dominates
//   GET  /render    "realistic": renders a ~2 KB JSON product listing from a template, a fixed amount of
//                   CPU work per request (RENDER_PASSES passes, default 8: about 0.4 ms on the project's
//                   2-core AMD EPYC machines)
//   POST /echo      reads the body, answers its length (for the deploy bench)
//   GET  /slow?ms=N answers after N ms (requests in flight across a switch)
//   GET  /healthz   health check
//   GET  /cost      measures /render's CPU cost in this process (ms per request), for the bench's header
import http from 'node:http';

const env = process.env;
const version = env.APP_VERSION ?? 'dev';
const passes = Math.max(1, Number(env.RENDER_PASSES ?? 8));

const hello = 'Hello, world\n';
const words = ['alpine', 'basalt', 'cobalt', 'dune', 'ember', 'fjord', 'granite', 'harbor', 'iris', 'juniper', 'krill', 'lagoon', 'mesa', 'nimbus'];

/** One pass of the "template": an 18-item catalogue page; `seed` varies the data so no pass is constant-folded. */
function renderOnce(seed) {
  const items = [];
  for (let i = 0; i < 18; i++) {
    const n = (seed * 31 + i * 17) % 997;
    const name = `${words[n % words.length]} ${words[(n >> 3) % words.length]}`;
    const cents = 499 + ((n * 7919) % 20000);
    items.push({
      id: `sku-${(100000 + n * 13).toString(36)}`,
      name: name.replace(/\b\w/g, (c) => c.toUpperCase()),
      price: `$${(cents / 100).toFixed(2)}`,
      stock: n % 40,
      tags: [words[(n + 3) % words.length], words[(n + 7) % words.length]].sort(),
      rating: Math.round(((n % 50) / 10) * 10) / 10,
    });
  }
  items.sort((a, b) => a.stock - b.stock || a.name.localeCompare(b.name));
  return JSON.stringify({ version, page: seed % 50, count: items.length, items });
}

let requestsSeen = 0;
/** `passes` renders of the page, as a template engine with partials and helpers would cost. */
export function render() {
  const seed = ++requestsSeen;
  let doc = '';
  let check = 0;
  for (let p = 0; p < passes; p++) {
    doc = renderOnce(seed + p);
    check = (check + doc.length) | 0;
  }
  return doc.slice(0, -1) + `,"check":${check}}`;
}

function reply(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'x-app-version': version });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if (url === '/') return reply(res, 200, 'text/plain', hello);
  if (url === '/render') return reply(res, 200, 'application/json', render());
  if (url === '/healthz') return reply(res, 200, 'text/plain', 'ok\n');
  if (url === '/echo') {
    let length = 0;
    req.on('data', (c) => (length += c.length));
    req.on('end', () => reply(res, 200, 'application/json', JSON.stringify({ version, method: req.method, length })));
    return;
  }
  if (url.startsWith('/slow')) {
    const ms = Number(new URL(url, 'http://app').searchParams.get('ms') ?? 250);
    return void setTimeout(() => reply(res, 200, 'application/json', JSON.stringify({ version, waited: ms })), ms);
  }
  if (url === '/cost') {
    const n = 400;
    for (let i = 0; i < 200; i++) render(); // warm up the JIT
    const start = process.cpuUsage();
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += render().length;
    const used = process.cpuUsage(start);
    return reply(res, 200, 'application/json', JSON.stringify({ renderMs: (used.user + used.system) / 1000 / n, renderBytes: Math.round(bytes / n), passes }));
  }
  reply(res, 404, 'text/plain', 'not found\n');
});
// Longer than any proxy's idle upstream keep-alive, so no proxy reuses a connection the app is closing.
server.keepAliveTimeout = 75_000;
server.listen(Number(env.PORT ?? 3000), env.HOST ?? '127.0.0.1', () => {
  if (env.BENCH_QUIET !== '1') console.log(`upstream-app ${version} listening on ${env.HOST ?? '127.0.0.1'}:${env.PORT ?? 3000} (pid ${process.pid})`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
