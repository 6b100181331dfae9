import { closeSync, fstatSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import { formatListen, isLoopback, type ListenAddress } from '../config/listen.ts';
import { listeningTcpSockets, socketInode } from './proc-sockets.ts';

// Socket activation: listening sockets opened by the service manager (a systemd .socket unit) and
// handed to `zdd serve` as fds 3, 4, … with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES (sd_listen_fds).
// The manager keeps its copy of each socket while zdd is down, so the kernel goes on accepting into
// its backlog: clients wait for the next daemon instead of being refused. Each socket goes to the
// address in zdd.yaml it is bound to (its own address, not its name: no naming convention to follow);
// an address without one is bound as usual.

/** The first fd the manager passes (SD_LISTEN_FDS_START). */
const firstFd = 3;

/** One fd passed by the manager, as announced. */
export interface PassedFd {
  fd: number;
  /** FileDescriptorName= of the socket unit, when LISTEN_FDNAMES gives one. */
  name: string | undefined;
}

/**
 * The fds the manager passed to this process. LISTEN_PID must be this process (the variables may
 * have been inherited from elsewhere); undefined when nothing was passed, or it was for another process.
 */
export function passedFds(env: NodeJS.ProcessEnv, pid: number): PassedFd[] | undefined {
  if (env.LISTEN_FDS === undefined || env.LISTEN_PID === undefined) return undefined;
  if (!/^\d+$/.test(env.LISTEN_PID) || Number(env.LISTEN_PID) !== pid) return undefined;
  if (!/^\d+$/.test(env.LISTEN_FDS)) return undefined;
  const count = Number(env.LISTEN_FDS);
  const names = env.LISTEN_FDNAMES?.split(':') ?? [];
  return Array.from({ length: count }, (_, i) => ({ fd: firstFd + i, name: names[i] || undefined }));
}

/**
 * How well a socket bound to `bound` serves `wanted` (zdd.yaml's address): 2 the same address, 1 the
 * same port on an equivalent one (all interfaces in IPv4 or IPv6, `localhost` and a loopback address,
 * an IPv4-mapped IPv6 address), 0 not at all.
 */
export function matchScore(bound: ListenAddress, wanted: ListenAddress): number {
  if (bound.port !== wanted.port) return 0;
  const b = unmapped(bound.host);
  const w = unmapped(wanted.host);
  if (b === w) return 2;
  if (isAny(b) && isAny(w)) return 1;
  if (w === 'localhost' && isLoopback(b)) return 1;
  return 0;
}

function unmapped(host: string): string {
  const h = host.toLowerCase();
  return h.startsWith('::ffff:') && h.includes('.') ? h.slice('::ffff:'.length) : h;
}

function isAny(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** A handed-in listening TCP socket, not opened in Node until a listener takes it over. */
interface ActivatedSocket extends PassedFd {
  address: ListenAddress;
}

/** What takes a socket over: a front-door listener or the control listener. */
export interface SocketTaker {
  /** Serve from an open listening socket, synchronously. */
  adopt(handle: net.Server): void;
  /** Bind the address itself. */
  listen(): Promise<void>;
}

/** The listening sockets the service manager handed this daemon, until each is adopted or closed. */
export class ActivatedSockets {
  readonly #log: Logger;
  #sockets: ActivatedSocket[];

  private constructor(log: Logger, sockets: ActivatedSocket[]) {
    this.#log = log;
    this.#sockets = sockets;
  }

  /**
   * The fds announced in the environment, whose variables are removed: neither the instances nor a
   * successor (zdd restart) may take them for theirs. An fd that is not a listening TCP socket is
   * reported and closed. The sockets stay untouched (the kernel queues their connections) until served.
   */
  static fromEnvironment(log: Logger, env: NodeJS.ProcessEnv = process.env, pid = process.pid): ActivatedSockets {
    const passed = passedFds(env, pid);
    delete env.LISTEN_FDS;
    delete env.LISTEN_PID;
    delete env.LISTEN_FDNAMES;
    if (!passed || passed.length === 0) return new ActivatedSockets(log, []);
    const listening = listeningTcpSockets();
    const sockets: ActivatedSocket[] = [];
    for (const p of passed) {
      const label = `fd ${p.fd}${p.name ? ` "${p.name}"` : ''} handed in by the service manager (LISTEN_FDS)`;
      const inode = socketInode(p.fd);
      const address = inode === undefined ? undefined : listening?.get(inode);
      if (address) {
        sockets.push({ ...p, address });
        continue;
      }
      if (!isOpen(p.fd)) log.warn({ fd: p.fd, name: p.name }, `${label} is not open: ignored`);
      else if (inode !== undefined && !listening) log.warn({ fd: p.fd, name: p.name }, `${label}: cannot tell which address it listens on (/proc/self/net/tcp is not readable): closed, its addresses are bound as usual`);
      else log.warn({ fd: p.fd, name: p.name }, `${label} is not a listening TCP socket: closed (zdd takes ListenStream= sockets with an IP address and port)`);
      if (isOpen(p.fd)) closeSync(p.fd);
    }
    log.info({ fds: passed }, `${passed.length} fd${passed.length === 1 ? '' : 's'} handed in by the service manager (LISTEN_FDS), listening sockets: ${sockets.map(describe).join(', ') || 'none'}`);
    return new ActivatedSockets(log, sockets);
  }

  get size(): number {
    return this.#sockets.length;
  }

  /** Whether a handed-in socket serves this address. */
  has(address: ListenAddress): boolean {
    return this.#best(address) !== undefined;
  }

  /**
   * The taker serves from the handed-in socket bound to `address`, or binds the address itself when
   * there is none. `what` names it in the log: `proxy 127.0.0.1:8080`.
   */
  async serve(address: ListenAddress, taker: SocketTaker, what: string): Promise<void> {
    const s = this.#best(address);
    if (!s) return taker.listen();
    this.#sockets = this.#sockets.filter((x) => x !== s);
    const server = new net.Server();
    server.on('error', (err) => this.#log.error({ err, fd: s.fd }, `${what}: the socket handed in as ${describe(s)} failed`));
    // Node accepts from the socket from here on; the taker takes it over before anything is accepted.
    server.listen({ fd: s.fd });
    if (server.address() === null) {
      this.#log.warn({ fd: s.fd }, `${what}: the socket handed in as ${describe(s)} cannot be listened on: binding the address instead`);
      return taker.listen();
    }
    taker.adopt(server);
    this.#log.info({ fd: s.fd, name: s.name }, `${what}: serving from the socket handed in by the service manager (LISTEN_FDS, ${describe(s)}); connections made while zdd was down waited in its backlog`);
  }

  /** Sockets no address in zdd.yaml wants: reported and closed here (the manager keeps its own copy). */
  closeRest(): void {
    for (const s of this.#sockets) {
      this.#log.warn({ fd: s.fd, name: s.name }, `the socket handed in as ${describe(s)} matches no listen address in zdd.yaml: closed (bind the socket unit's ListenStream= to a service's listen address or control.listen)`);
      closeSync(s.fd);
    }
    this.#sockets = [];
  }

  #best(address: ListenAddress): ActivatedSocket | undefined {
    let best: ActivatedSocket | undefined;
    let score = 0;
    for (const s of this.#sockets) {
      const m = matchScore(s.address, address);
      if (m > score) [best, score] = [s, m];
    }
    return best;
  }
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

function describe(s: ActivatedSocket): string {
  return `fd ${s.fd}${s.name ? ` "${s.name}"` : ''} on ${formatListen(s.address)}`;
}
