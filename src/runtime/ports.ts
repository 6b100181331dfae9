import net from 'node:net';

// Ports handed out recently: the OS may offer the same free port twice before the first instance binds it.
const recent = new Map<number, number>();
const reuseAfterMs = 60_000;
/** Ports zdd's own listeners use or will use (zdd.yaml's listen and redirectHttp): never an instance's. */
const reserved = new Set<number>();

/**
 * The ports of zdd.yaml's addresses, as it reads now: an address added or changed waits for zdd restart,
 * and an instance started meanwhile must not take its port (it is free until then).
 */
export function reservePorts(ports: Iterable<number>): void {
  for (const p of ports) reserved.add(p);
}

/** A free TCP port on host, for an instance to listen on. */
export async function allocatePort(host: string): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.once('error', reject);
      server.listen({ host, port: 0, exclusive: true }, () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const now = Date.now();
    const last = recent.get(port);
    if ((last !== undefined && now - last < reuseAfterMs) || reserved.has(port)) continue;
    recent.set(port, now);
    if (recent.size > 4096) for (const [p, t] of recent) if (now - t >= reuseAfterMs) recent.delete(p);
    return port;
  }
  throw new Error(`no free port on ${host}`);
}
