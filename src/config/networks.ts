import net from 'node:net';

/** Parses "10.0.0.0/8", "fd00::/8" or a bare address (a /32 or /128) into canonical "address/prefix". */
export function parseNetwork(text: string): string | undefined {
  const s = text.trim();
  const slash = s.indexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  const family = net.isIP(address);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  return `${address}/${prefix}`;
}

/** A set of networks that answers "is this address inside?" (IPv4-mapped IPv6 addresses count as IPv4). */
export class NetworkSet {
  readonly networks: readonly string[];
  readonly #list = new net.BlockList();

  constructor(networks: readonly string[]) {
    this.networks = networks;
    for (const n of networks) {
      const parsed = parseNetwork(n);
      if (!parsed) throw new Error(`not a network: ${n}`);
      const [address, prefix] = parsed.split('/') as [string, string];
      this.#list.addSubnet(address, Number(prefix), net.isIPv4(address) ? 'ipv4' : 'ipv6');
    }
  }

  has(address: string): boolean {
    const family = net.isIP(address);
    if (family === 0 || this.networks.length === 0) return false;
    return this.#list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}
