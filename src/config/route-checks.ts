import { formatDuration } from './duration.ts';
import { formatListen, type ListenAddress } from './listen.ts';
import type { ConfigIssue } from './load.ts';
import { describeRoute, isWildcard, routeKeys, type RouteKey } from './routes.ts';
import type { ServiceSpec } from './schema.ts';

// Checks on hosts, paths, TLS and shared addresses that need more than one key, or more than one
// service. Pure: the YAML document is only reached through `Lines`, for line numbers.

/** Where keys are in zdd.yaml. */
export interface Lines {
  /** Line of the value at `at`, or of its nearest written parent. */
  line(at: readonly string[]): number | undefined;
  /** The key is written (not a default). */
  written(at: readonly string[]): boolean;
}

type Services = Record<string, ServiceSpec>;

/** One service's keys that only work together. */
export function serviceRouteIssues(services: Services, lines: Lines): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const issue = (name: string, key: string[], message: string): void => {
    out.push({ key: ['services', name, ...key].join('.'), line: lines.line(['services', name, ...key]), message });
  };
  for (const [name, spec] of Object.entries(services)) {
    const hosts = spec.hosts ?? [];
    if (spec.stripPrefix && (spec.paths ?? []).length === 0) issue(name, ['stripPrefix'], 'needs paths other than "/": it removes the matched prefix before forwarding, e.g. paths: [/api]');
    if (spec.tls && 'acme' in spec.tls) {
      if (hosts.length === 0) issue(name, ['tls'], 'ACME certificates are for names: add hosts, e.g. hosts: [app.example.com]');
      hosts.forEach((h, i) => {
        if (isWildcard(h)) issue(name, ['hosts', String(i)], `"${h}": ACME validates a wildcard name only over DNS (DNS-01), which zdd does not do; list the names, or use tls: { cert, key } with a wildcard certificate`);
      });
    }
    if (spec.tls && typeof spec.proxy.workers === 'number' && spec.proxy.workers > 0) {
      issue(name, ['proxy', 'workers'], 'a TLS address is served by the daemon process itself (data-plane workers serve plain HTTP only, for now): write workers: 0 or auto');
    }
    if (!spec.tls) {
      if (spec.redirectHttp) issue(name, ['redirectHttp'], 'needs tls: it redirects plain HTTP to https on listen');
      if (spec.hsts !== undefined) issue(name, ['hsts'], 'needs tls: browsers ignore Strict-Transport-Security over plain HTTP');
    }
  }
  return out;
}

/** A socket a service asks for: its `listen`, or its `redirectHttp`. */
interface Listener {
  service: string;
  key: 'listen' | 'redirectHttp';
  address: ListenAddress;
  spec: ServiceSpec;
}

/**
 * Services may share a listen address (routed by host and path), and redirect listeners may share one
 * with each other and with plain-HTTP services. Everything on one address must be routable without
 * ambiguity and agree on what belongs to the listener itself.
 */
export function sharedAddressIssues(services: Services, lines: Lines): ConfigIssue[] {
  const listeners: Listener[] = Object.entries(services).flatMap(([service, spec]) => [
    { service, key: 'listen' as const, address: spec.listen, spec },
    // A redirect without tls is refused by serviceRouteIssues; it takes no address here.
    ...(spec.redirectHttp && spec.tls ? [{ service, key: 'redirectHttp' as const, address: spec.redirectHttp, spec }] : []),
  ]);
  const out = overlapIssues(listeners, lines);
  const groups = new Map<string, Listener[]>();
  for (const l of listeners) {
    const at = formatListen(l.address);
    groups.set(at, [...(groups.get(at) ?? []), l]);
  }
  for (const [address, group] of groups) if (group.length > 1) out.push(...groupIssues(address, group, lines));
  return out;
}

const path = (l: Listener, ...rest: string[]): string[] => ['services', l.service, ...rest];
const keyOf = (l: Listener, ...rest: string[]): string => path(l, ...rest).join('.');
/** "services.api.listen (line 3)" */
const cite = (l: Listener, lines: Lines, ...rest: string[]): string => {
  const line = lines.line(path(l, ...rest));
  return `${keyOf(l, ...rest)}${line ? ` (line ${line})` : ''}`;
};

/** Two sockets on one port overlap unless their hosts differ (and neither is every interface): the second bind would fail. */
function overlapIssues(listeners: Listener[], lines: Lines): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  listeners.forEach((l, i) => {
    const other = listeners.slice(0, i).find((o) => o.address.port === l.address.port && o.address.host !== l.address.host && hostsOverlap(o.address.host, l.address.host));
    if (!other) return;
    const line = lines.line(path(other, other.key));
    out.push({
      key: keyOf(l, l.key),
      line: lines.line(path(l, l.key)),
      message: `${formatListen(l.address)} overlaps ${keyOf(other, other.key)} (${formatListen(other.address)}${line ? `, line ${line}` : ''}): listeners on one port share it only on the identical address; write ${formatListen(other.address)} for both, or use another port`,
    });
  });
  return out;
}

function groupIssues(address: string, group: Listener[], lines: Lines): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const services = group.filter((l) => l.key === 'listen');
  const tls = services.find((l) => l.spec.tls);
  const plain = services.find((l) => !l.spec.tls);
  if (tls && plain) {
    for (const l of services.slice(1)) {
      const first = services[0]!;
      if (!l.spec.tls === !first.spec.tls) continue;
      out.push({
        key: keyOf(l, l.spec.tls ? 'tls' : 'listen'),
        line: lines.line(path(l, l.spec.tls ? 'tls' : 'listen')),
        message: `${address} is also ${cite(first, lines, 'listen')}, which ${first.spec.tls ? 'has tls' : 'has no tls'}: services on one address all have tls or none`,
      });
    }
  }
  if (tls) {
    for (const r of group.filter((l) => l.key === 'redirectHttp')) {
      out.push({ key: keyOf(r, 'redirectHttp'), line: lines.line(path(r, 'redirectHttp')), message: `${address} is also ${cite(tls, lines, 'listen')}, which serves TLS: the redirect listener is plain HTTP; give it an address of its own, e.g. ":80"` });
    }
  }
  // On a TLS address the redirects were refused above; what remains must route unambiguously.
  const owners = tls ? services : group;
  out.push(...routeIssues(address, owners, lines), ...listenerSettingIssues(address, owners, lines));
  return out;
}

/** "services.web" or "services.web.redirectHttp": what a route on a shared address leads to. */
const owner = (l: Listener): string => (l.key === 'listen' ? `services.${l.service}` : keyOf(l, 'redirectHttp'));

function routeIssues(address: string, owners: Listener[], lines: Lines): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const defaults = owners.filter((l) => (l.spec.hosts ?? []).length === 0);
  for (const l of defaults.slice(1)) {
    const first = defaults[0]!;
    out.push({
      key: keyOf(l, l.key),
      line: lines.line(path(l, l.key)),
      message: `${address} is also ${cite(first, lines, first.key)}, and neither ${owner(first)} nor ${owner(l)} has hosts: only one service on a shared address may go without hosts (the default); give one of them hosts`,
    });
  }
  const seen = new Map<string, Listener>();
  for (const l of owners) {
    const hosts = l.spec.hosts ?? [];
    for (const route of routeKeys(hosts, l.spec.paths ?? [])) {
      if (route.host === undefined) continue; // two defaults: reported above
      const id = routeId(route);
      const first = seen.get(id);
      if (!first) {
        seen.set(id, l);
        continue;
      }
      const at = path(l, 'hosts', String(hosts.indexOf(route.host)));
      const [line, firstLine] = [lines.line(at), lines.line(path(first, 'hosts', String((first.spec.hosts ?? []).indexOf(route.host))))];
      out.push({
        key: at.join('.'),
        line,
        message: `on ${address}, ${describeRoute(route)} is routed to both ${owner(first)} and ${owner(l)} (hosts on lines ${firstLine} and ${line}): the same host and path on one address is ambiguous; give them different hosts or paths`,
      });
    }
  }
  return out;
}

const routeId = (r: RouteKey): string => `${r.host ?? ''} ${r.prefix ?? '/'}`;

/** Settings that belong to the listener, not to one service: every service on the address must agree. */
const listenerSettings = [
  { key: 'headerTimeout', show: (s: ServiceSpec) => formatDuration(s.proxy.headerTimeout) },
  { key: 'maxConnectionsPerClient', show: (s: ServiceSpec) => String(s.proxy.maxConnectionsPerClient) },
  { key: 'trustedNetworks', show: (s: ServiceSpec) => `[${[...s.proxy.trustedNetworks].sort().join(', ')}]` },
  { key: 'workers', show: (s: ServiceSpec) => String(s.proxy.workers) },
] as const;

function listenerSettingIssues(address: string, owners: Listener[], lines: Lines): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const first = owners[0]!;
  for (const l of owners.slice(1)) {
    if (l.service === first.service) continue;
    for (const { key, show } of listenerSettings) {
      const [mine, theirs] = [show(l.spec), show(first.spec)];
      if (mine === theirs) continue;
      const at = path(l, 'proxy', key);
      const theirsAt = path(first, 'proxy', key);
      const where = lines.written(theirsAt) ? `line ${lines.line(theirsAt)}` : 'the default';
      out.push({
        key: at.join('.'),
        line: lines.line(at),
        message: `${mine}${lines.written(at) ? '' : ' (the default)'} differs from ${theirsAt.join('.')} (${theirs}, ${where}), and both services are on ${address}: it is a setting of the shared listener; write the same value for both`,
      });
    }
  }
  return out;
}

const wildcards = new Set(['0.0.0.0', '::']);
const loopbackNames = new Set(['localhost', '127.0.0.1', '::1']);

function hostsOverlap(a: string, b: string): boolean {
  if (a === b || wildcards.has(a) || wildcards.has(b)) return true;
  return loopbackNames.has(a) && loopbackNames.has(b) && (a === 'localhost' || b === 'localhost');
}
