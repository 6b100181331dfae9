// Runs inside a test network namespace (an "outside" host): sends paced HTTP requests and prints what
// came back as one JSON line. Usage: node outside-client.ts '<json spec>'.
import http from 'node:http';

interface Spec {
  url: string;
  count: number;
  ratePerSecond: number;
  headers?: Record<string, string>;
}

interface Result {
  status: number;
  body: string;
  setCookie: string[];
}

const spec = JSON.parse(process.argv[2]!) as Spec;

function once(): Promise<Result> {
  return new Promise((resolve) => {
    const req = http.request(spec.url, { headers: spec.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, setCookie: res.headers['set-cookie'] ?? [] }));
    });
    req.on('error', (err) => resolve({ status: 0, body: err.message, setCookie: [] }));
    req.end();
  });
}

const pending: Promise<Result>[] = [];
const start = performance.now();
for (let i = 0; i < spec.count; i++) {
  const due = start + (i * 1000) / spec.ratePerSecond;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  pending.push(once());
}
process.stdout.write(`${JSON.stringify(await Promise.all(pending))}\n`);
