import { allocatePort } from '../../src/runtime/ports.ts';

/** A free loopback port, found the way zdd finds its instances' ports. */
export function freePort(): Promise<number> {
  return allocatePort('127.0.0.1');
}
