// A CertificateStore in a process of its own, for tests that need NODE_EXTRA_CA_CERTS (read only at process start).
// Wired the way the proxy wires it: a plain-HTTP listener answering HTTP-01 from http01Response(), and a TLS
// listener (handshake.ts listenTls) that lets routeTlsConnection() answer TLS-ALPN-01 and serves contextFor().
// Input: one JSON argument (ChildInput). Output: one JSON line on stdout per "change" ({ at, status: [...] }); logs on
// stderr. Ends on SIGTERM.
import http from 'node:http';
import pino from 'pino';
import { CertificateStore, type CertificateSite, type RetryPolicy } from '../../src/tls/index.ts';
import { listenTls } from './handshake.ts';

export interface ChildInput {
  dataDir: string;
  sites: CertificateSite[];
  /** Plain-HTTP listener for HTTP-01 on 127.0.0.1. */
  httpPort?: number;
  /** Answer HTTP-01 with a wrong body (to see what the CA's error says). */
  http01Wrong?: boolean;
  /** TLS listener on 127.0.0.1 (TLS-ALPN-01 and ordinary handshakes). */
  tlsPort?: number;
  retry?: RetryPolicy;
  pollMs?: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as ChildInput;
const log = pino({ level: 'debug' }, pino.destination(2));
const store = new CertificateStore({
  dataDir: input.dataDir,
  log,
  ...(input.retry ? { retry: input.retry } : {}),
  ...(input.pollMs ? { acmePolling: { minMs: input.pollMs, maxMs: input.pollMs * 4 } } : {}),
});
const report = () => process.stdout.write(`${JSON.stringify({ at: Date.now(), status: store.status() })}\n`);

const closers: (() => void)[] = [];
if (input.httpPort) {
  const server = http.createServer((req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
    const answer = token ? store.http01Response(token) : undefined;
    const body = answer !== undefined && input.http01Wrong ? `${answer}-wrong` : answer;
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/plain' }).end(body ?? 'not found\n');
  });
  await new Promise<void>((resolve) => server.listen(input.httpPort, '127.0.0.1', resolve));
  closers.push(() => server.close());
}
await store.configure(input.sites);
if (input.tlsPort) {
  const listener = await listenTls(store, input.tlsPort);
  closers.push(() => void listener.close());
}
store.on('change', report);
report();

process.once('SIGTERM', () => {
  store.close();
  for (const close of closers) close();
  process.exit(0);
});
