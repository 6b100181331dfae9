import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** A process that reported to a ReportServer. */
export interface Report {
  pid: number;
  role: string;
  /** Resolves when the process is gone: the kernel closes its sockets when it dies. */
  gone: Promise<unknown>;
  /** Tell the process to exit (code 3), as its own decision. */
  exit(): void;
}

/**
 * A TCP server that test processes connect to, each sending "<pid> <role>". A connection's close is how
 * the test learns that the process behind it is gone, whoever reaps it and whatever its pid turns into.
 */
export class ReportServer {
  readonly #server = net.createServer();
  readonly #reports: Report[] = [];
  readonly #waiting = new Set<{ role: string; resolve: (r: Report) => void }>();
  readonly #sockets = new Set<net.Socket>();

  static async start(): Promise<ReportServer> {
    const s = new ReportServer();
    s.#server.listen(0, '127.0.0.1');
    await once(s.#server, 'listening');
    return s;
  }

  private constructor() {
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.setEncoding('utf8');
      socket.on('error', () => undefined);
      const gone = once(socket, 'close');
      let text = '';
      socket.on('data', (d: string) => {
        text += d;
        if (!text.includes('\n')) return;
        const [pid, role] = text.trim().split(' ');
        const report: Report = { pid: Number(pid), role: role ?? '', gone, exit: () => socket.write('exit\n') };
        this.#reports.push(report);
        for (const w of this.#waiting) {
          if (w.role === report.role) {
            this.#waiting.delete(w);
            w.resolve(report);
          }
        }
      });
    });
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** The report of the process with this role, once it has come. */
  report(role: string): Promise<Report> {
    const seen = this.#reports.find((r) => r.role === role);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiting.add({ role, resolve }));
  }

  /** SIGKILL whatever a test left behind, and stop listening. */
  close(): void {
    for (const r of this.#reports) {
      try {
        process.kill(r.pid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    }
    for (const s of this.#sockets) s.destroy();
    this.#server.close();
  }
}

/**
 * A script for instances to run: `node reporter.cjs <port> <role>` reports to a ReportServer and stays
 * until told to exit. Role `main` exits on SIGTERM; any other ignores SIGTERM, as a stubborn process
 * would. With `--spawn <role>` it first starts `<role>` as a detached child (own session, setsid) with
 * an empty environment: the hardest kind of process to find again.
 */
export function writeReporter(dir: string): string {
  const file = path.join(dir, 'reporter.cjs');
  writeFileSync(
    file,
    `const [port, role, flag, childRole] = process.argv.slice(2);
process.on('SIGTERM', () => { if (role === 'main') process.exit(0); });
if (flag === '--spawn') require('child_process').spawn(process.execPath, [__filename, port, childRole], { detached: true, env: {}, stdio: 'ignore' });
const s = require('net').connect(Number(port), '127.0.0.1', () => s.write(process.pid + ' ' + role + '\\n'));
s.on('data', (d) => { if (String(d).includes('exit')) process.exit(3); });
s.on('error', () => {});
setInterval(() => {}, 1000);
`,
  );
  return file;
}
