import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import type { ListenAddress } from '../config/listen.ts';

// Which address an open socket fd listens on, read from Linux's /proc without touching the socket:
// opening it in Node would start accepting from it at once, before anyone is there to serve.

/** TCP_LISTEN in /proc/net/tcp's `st` column. */
const listenState = '0A';

/** The socket's inode, from /proc/self/fd (`socket:[1234]`); undefined for anything else. */
export function socketInode(fd: number): string | undefined {
  try {
    return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  } catch {
    return undefined;
  }
}

/** Listening TCP sockets by inode, from /proc/self/net/tcp and tcp6. Undefined when /proc cannot be read. */
export function listeningTcpSockets(): Map<string, ListenAddress> | undefined {
  const out = new Map<string, ListenAddress>();
  let read = false;
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    read = true;
    for (const [inode, address] of parseProcNetTcp(text)) out.set(inode, address);
  }
  return read ? out : undefined;
}

/** The listening sockets in a /proc/net/tcp or tcp6 table, by inode. */
export function parseProcNetTcp(text: string, littleEndian = os.endianness() === 'LE'): Map<string, ListenAddress> {
  const out = new Map<string, ListenAddress>();
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10 || cols[3] !== listenState) continue;
    const [hexHost, hexPort] = cols[1]!.split(':') as [string, string];
    const host = procHost(hexHost, littleEndian);
    if (host !== undefined) out.set(cols[9]!, { host, port: parseInt(hexPort, 16) });
  }
  return out;
}

/** The kernel prints an address as 32-bit words in host byte order. */
function procHost(hex: string, littleEndian: boolean): string | undefined {
  if (hex.length !== 8 && hex.length !== 32) return undefined;
  const bytes = Buffer.from(hex, 'hex');
  if (littleEndian) for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  if (bytes.length === 4) return [...bytes].join('.');
  // An IPv4-mapped address (a dual-stack socket bound to an IPv4 address) reads as IPv4.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return [...bytes.subarray(12)].join('.');
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
  // URL writes an IPv6 address in its shortest form: [::1].
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}
