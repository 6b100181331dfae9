export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses "127.0.0.1:8080", "[::1]:8080", "localhost:8080", ":8080" (all interfaces) or "8080" (loopback). */
export function parseListen(text: string): ListenAddress | undefined {
  const s = text.trim();
  let host: string;
  let portText: string;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (/^\d+$/.test(s)) {
    host = '127.0.0.1';
    portText = s;
  } else {
    const i = s.lastIndexOf(':');
    if (i < 0 || s.indexOf(':') !== i) return undefined;
    host = s.slice(0, i) || '0.0.0.0';
    portText = s.slice(i + 1);
    if (!/^[A-Za-z0-9.-]+$/.test(host)) return undefined;
  }
  if (!/^\d+$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return { host, port };
}

export function formatListen(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
