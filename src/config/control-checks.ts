import { formatListen, isLoopback } from './listen.ts';
import type { ConfigIssue } from './load.ts';
import type { Lines } from './route-checks.ts';
import type { ControlSpec, ServiceSpec } from './schema.ts';

// The control listener carries bearer tokens and can deploy: beyond loopback it needs TLS, unless the
// user says in so many words that the network in between is trusted (control.insecure: true).

export function controlIssues(control: ControlSpec | undefined, services: Record<string, ServiceSpec>, lines: Lines): ConfigIssue[] {
  if (!control) return [];
  const out: ConfigIssue[] = [];
  const at = formatListen(control.listen);
  if (!isLoopback(control.listen.host) && !control.tls && !control.insecure) {
    out.push({
      key: 'control.listen',
      line: lines.line(['control', 'listen']),
      message: `${at} is reachable beyond this machine, and without tls its tokens would cross the network in the clear; add control.tls: { cert, key }, listen on 127.0.0.1 (and reach it over SSH), or set control.insecure: true to accept that`,
    });
  }
  for (const [name, spec] of Object.entries(services)) {
    for (const key of ['listen', 'redirectHttp'] as const) {
      const a = spec[key];
      if (!a || a.port !== control.listen.port) continue;
      out.push({
        key: 'control.listen',
        line: lines.line(['control', 'listen']),
        message: `${at} takes port ${a.port}, which services.${name}.${key} (line ${lines.line(['services', name, key])}) uses; give the control listener a port of its own, e.g. 127.0.0.1:9900`,
      });
    }
  }
  return out;
}
