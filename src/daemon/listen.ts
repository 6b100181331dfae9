import path from 'node:path';
import { formatListen } from '../config/listen.ts';
import { ZddError } from '../errors.ts';
import type { FrontDoorAddress } from '../proxy/front-door.ts';
import type { ActivatedSockets } from './socket-activation.ts';

/**
 * Binds one of the front door's addresses, or serves it from the socket the service manager handed in
 * for it. An address the machine will not give zdd (taken, privileged, not one of its own) is a config
 * error, worded as the config names it, with no stack trace.
 */
export async function listenAddress(a: FrontDoorAddress, configPath: string, activated?: ActivatedSockets): Promise<void> {
  try {
    await (activated ? activated.serve(a.address, a.listener, `proxy ${a.listen}`) : a.listener.listen());
  } catch (err) {
    throw listenError(a.key, formatListen(a.address), (err as NodeJS.ErrnoException).code, path.basename(configPath)) ?? err;
  }
}

/** Binds the HTTP control listener (control.listen), with the same errors. */
export async function listenControl(bind: () => Promise<void>, where: string, configPath: string): Promise<void> {
  try {
    await bind();
  } catch (err) {
    throw listenError('control.listen', where, (err as NodeJS.ErrnoException).code, path.basename(configPath)) ?? err;
  }
}

function listenError(key: string, where: string, code: string | undefined, configName: string): ZddError | undefined {
  switch (code) {
    case 'EADDRINUSE':
      return new ZddError('LISTEN_IN_USE', `${where} (${key}) is already in use by another program`, `stop that program or change ${key} in ${configName}`);
    case 'EACCES':
      return new ZddError('LISTEN_DENIED', `not allowed to listen on ${where} (${key}): ports below 1024 need privileges`, `use a port from 1024 up in ${configName}, or let node bind low ports (setcap cap_net_bind_service=+ep on the node binary)`);
    case 'EADDRNOTAVAIL':
      return new ZddError('LISTEN_UNAVAILABLE', `${where} (${key}) is not an address of this machine`, `change ${key} in ${configName} to an address this machine has, or 0.0.0.0 for all`);
    default:
      return undefined;
  }
}
