import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML, { isMap, isNode, type Document, type LineCounter as LC } from 'yaml';
import type { z } from 'zod';
import { ZddError } from '../errors.ts';
import { controlIssues } from './control-checks.ts';
import type { NotifyConfig } from './notify.ts';
import { serviceRouteIssues, sharedAddressIssues, type Lines } from './route-checks.ts';
import { configSchema, type ControlSpec, type ServiceSpec, type TlsSpec } from './schema.ts';

export interface ConfigIssue {
  /** Dotted key path, e.g. "services.web.health.interval". */
  key: string;
  line: number | undefined;
  message: string;
}

export class ConfigError extends ZddError {
  readonly file: string;
  readonly issues: ConfigIssue[];
  constructor(file: string, issues: ConfigIssue[]) {
    const lines = issues.map((i) => `  ${path.basename(file)}${i.line ? `:${i.line}` : ''}: ${i.key ? `${i.key}: ` : ''}${i.message}`);
    super('CONFIG_INVALID', `invalid config ${file}:\n${lines.join('\n')}`, `fix ${path.basename(file)} and run the command again`);
    this.file = file;
    this.issues = issues;
  }
}

export interface ServiceConfig extends ServiceSpec {
  name: string;
  /**
   * Where the service's instances run. Without `source`: an absolute folder. With `source`: a path
   * relative to each release's own folder (its snapshot), "." by default.
   */
  cwd: string;
  /** Absolute: the folder each release snapshots. */
  source?: string;
  /** Absolute: the dotenv file read at each deploy. */
  envFile?: string;
  /** With cert and key: absolute paths. */
  tls?: TlsSpec;
}

export interface Config {
  file: string;
  services: Map<string, ServiceConfig>;
  /** Where deployments and crashes are POSTed: the top-level entries and each service's own. */
  notify: NotifyConfig;
  /** The HTTP control listener, when zdd.yaml has control: (tls paths absolute). */
  control?: ControlSpec;
}

export function loadConfig(file: string): Config {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ZddError(
      e.code === 'ENOENT' ? 'CONFIG_NOT_FOUND' : 'CONFIG_UNREADABLE',
      e.code === 'ENOENT' ? `no config at ${abs}` : `cannot read ${abs}: ${e.message}`,
      'run zdd from the folder holding zdd.yaml, or pass --config PATH',
    );
  }
  return parseConfig(text, abs);
}

export function parseConfig(text: string, file: string): Config {
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ key: '', line: lineCounter.linePos(e.pos[0]).line, message: e.message.split('\n')[0]! })),
    );
  }
  const result = configSchema.safeParse(withProxyDefaults(doc.toJS() ?? {}));
  if (!result.success) {
    const issues = result.error.issues.flatMap((i) => describeIssue(i, doc, lineCounter));
    throw new ConfigError(file, issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
  }
  const services = result.data.services;
  const lines: Lines = { line: (at) => valueLine(doc, lineCounter, inherited(doc, at) ?? [...at]), written: (at) => doc.hasIn(at) };
  const clashes = [
    ...sharedAddressIssues(services, lines),
    ...serviceRouteIssues(services, lines),
    ...releaseIssues(services, doc, lineCounter),
    ...controlIssues(result.data.control, services, lines),
  ];
  if (clashes.length > 0) throw new ConfigError(file, clashes.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
  const dir = path.dirname(file);
  const loaded = new Map<string, ServiceConfig>();
  // A service's notify is the daemon's business, not its releases': kept out of ServiceConfig (and release specs).
  const notify: NotifyConfig = { all: result.data.notify, services: new Map() };
  for (const [name, { notify: own, ...spec }] of Object.entries(services)) {
    if (own) notify.services.set(name, own);
    const source = spec.source === undefined ? undefined : path.resolve(dir, spec.source);
    const service: ServiceConfig = { ...spec, name, cwd: source ? path.normalize(spec.cwd ?? '.') : path.resolve(dir, spec.cwd ?? '.') };
    if (source) service.source = source;
    if (spec.envFile !== undefined) service.envFile = path.resolve(dir, spec.envFile);
    if (spec.tls && 'cert' in spec.tls) service.tls = { cert: path.resolve(dir, spec.tls.cert), key: path.resolve(dir, spec.tls.key) };
    loaded.set(name, service);
  }
  const control = result.data.control;
  if (control?.tls) control.tls = { cert: path.resolve(dir, control.tls.cert), key: path.resolve(dir, control.tls.key) };
  return control ? { file, services: loaded, notify, control } : { file, services: loaded, notify };
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The top-level `proxy` keys become each service's, where the service does not write its own. Only a
 * valid top-level block is copied: a mistake in it is reported once, at its own line.
 */
function withProxyDefaults(raw: unknown): unknown {
  if (!isMapping(raw) || !isMapping(raw.proxy) || !isMapping(raw.services)) return raw;
  if (!configSchema.shape.proxy.safeParse(raw.proxy).success) return raw;
  const defaults = raw.proxy;
  const services = Object.fromEntries(
    Object.entries(raw.services).map(([name, spec]) => {
      if (!isMapping(spec) || (spec.proxy !== undefined && !isMapping(spec.proxy))) return [name, spec];
      return [name, { ...spec, proxy: { ...defaults, ...(spec.proxy ?? {}) } }];
    }),
  );
  return { ...raw, services };
}

/** A service's proxy key it takes from the top-level `proxy` block: where that is written. */
function inherited(doc: Document, at: readonly string[]): string[] | undefined {
  if (at.length !== 4 || at[0] !== 'services' || at[2] !== 'proxy' || doc.hasIn(at)) return undefined;
  return doc.hasIn(['proxy', at[3]]) ? ['proxy', at[3]!] : undefined;
}

/** Keys that only make sense for a service whose releases have folders of their own (`source`). */
const needSource = ['install', 'build', 'buildCache', 'shared'] as const;

function releaseIssues(services: Record<string, ServiceSpec>, doc: Document, lc: LC): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const [name, spec] of Object.entries(services)) {
    if (spec.source === undefined) {
      for (const key of needSource) {
        const value = spec[key];
        if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
        out.push({ key: `services.${name}.${key}`, line: valueLine(doc, lc, ['services', name, key]), message: `needs source: it works on each release's own folder, a snapshot of source` });
      }
    } else if (spec.cwd !== undefined && (path.isAbsolute(spec.cwd) || path.normalize(spec.cwd).split(path.sep)[0] === '..')) {
      out.push({ key: `services.${name}.cwd`, line: valueLine(doc, lc, ['services', name, 'cwd']), message: `with source, cwd is a folder inside the release (relative, without ".."), e.g. backend` });
    }
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, doc: Document, lc: LC): ConfigIssue[] {
  const at = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({
      key: [...at, k].join('.'),
      line: keyLine(doc, lc, at, k),
      message: `unknown key "${k}"${suggest(k)}`,
    }));
  }
  if (issue.code === 'invalid_key') {
    // A bad map key (service or env name): the reason is nested, the line is the key's own.
    return [{ key: at.join('.'), line: keyLine(doc, lc, at.slice(0, -1), at.at(-1)!), message: issue.issues[0]?.message ?? issue.message }];
  }
  let message = issue.message;
  if (issue.code === 'invalid_union' && 'options' in issue) message = `must be one of ${(issue.options as unknown[]).join(', ')}`;
  else if (!doc.hasIn(at)) message = 'is required';
  else if (issue.code === 'invalid_type' && message.startsWith('Invalid input')) {
    message = `expected ${issue.expected}, got ${JSON.stringify(doc.getIn(at))}`;
  }
  return [{ key: at.join('.'), line: valueLine(doc, lc, at), message }];
}

/** Line of the deepest node on the path that exists (a missing key is reported at its parent). */
function valueLine(doc: Document, lc: LC, at: string[]): number | undefined {
  for (let n = at.length; n >= 0; n--) {
    const node = doc.getIn(at.slice(0, n), true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
    if (n > 0) {
      const line = keyLine(doc, lc, at.slice(0, n - 1), at[n - 1]!);
      if (line) return line;
    }
  }
  return undefined;
}

function keyLine(doc: Document, lc: LC, parent: string[], key: string): number | undefined {
  const map = parent.length ? doc.getIn(parent, true) : doc.contents;
  if (!isMap(map)) return undefined;
  for (const pair of map.items) {
    if (isNode(pair.key) && String((pair.key as { value?: unknown }).value) === key && pair.key.range) {
      return lc.linePos(pair.key.range[0]).line;
    }
  }
  return undefined;
}

/** Every key the schema knows, anywhere: a near miss of any of them gets a suggestion. */
const knownKeys = collectKeys(configSchema);

function collectKeys(root: z.ZodType): string[] {
  type Def = { shape?: Record<string, z.ZodType>; options?: z.ZodType[] } & Record<string, unknown>;
  const keys = new Set<string>();
  const seen = new Set<unknown>();
  const walk = (schema: unknown): void => {
    if (!schema || seen.has(schema)) return;
    seen.add(schema);
    const def = (schema as { _zod?: { def?: Def } })._zod?.def;
    if (!def) return;
    for (const [k, v] of Object.entries(def.shape ?? {})) {
      keys.add(k);
      walk(v);
    }
    for (const inner of ['innerType', 'in', 'out', 'valueType', 'element']) walk(def[inner]);
    def.options?.forEach(walk);
  };
  walk(root);
  return [...keys];
}

/** "did you mean" for a near-miss of a known key. */
function suggest(key: string): string {
  const lower = key.toLowerCase().replace(/[-_]/g, '');
  // Short keys tolerate one slip, longer ones two: "bogus" is not a typo of "logs".
  const tolerance = lower.length <= 5 ? 1 : 2;
  const hit = knownKeys.find((c) => c.toLowerCase() === lower || editDistance(c.toLowerCase(), lower) <= tolerance);
  return hit ? ` (did you mean "${hit}"?)` : '';
}

/** Edits (insert, delete, substitute, swap two neighbours) between a and b: "pasue" is one from "pause". */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}
