import net from 'node:net';
import { Agent, request } from 'undici';

// Health probes open a fresh connection each time: the check should prove the app still accepts them.
const agent = new Agent({ connections: 1, pipelining: 0, connect: { timeout: 2000 } });

export interface ProbeTarget {
  host: string;
  port: number;
}

/** One health check: resolves to undefined when healthy, or to what went wrong. */
export async function probe(target: ProbeTarget, path: string | undefined, timeoutMs: number): Promise<string | undefined> {
  return path === undefined ? probeTcp(target, timeoutMs) : probeHttp(target, path, timeoutMs);
}

async function probeHttp(target: ProbeTarget, path: string, timeoutMs: number): Promise<string | undefined> {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  try {
    const res = await request(`http://${host}:${target.port}${path}`, {
      dispatcher: agent,
      method: 'GET',
      headers: { 'user-agent': 'zdd-health-check' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      reset: true,
    });
    await res.body.dump();
    return res.statusCode >= 200 && res.statusCode < 400 ? undefined : `GET ${path} answered ${res.statusCode}`;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') {
      return `GET ${path} timed out after ${timeoutMs}ms`;
    }
    return `GET ${path} failed: ${e.code ?? e.message}`;
  }
}

function probeTcp(target: ProbeTarget, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: target.host, port: target.port });
    const done = (result: string | undefined) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(`TCP connect timed out after ${timeoutMs}ms`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(`TCP connect failed: ${err.code ?? err.message}`));
  });
}
