import { z } from 'zod';
import { defaultAnalysisSettings } from '../analysis/config.ts';
import { formatDuration, maxDurationMs, parseDuration } from './duration.ts';
import { parseListen } from './listen.ts';
import { parseNetwork } from './networks.ts';
import { parseHostPattern, parsePathPrefix } from './routes.ts';
import { notifyList } from './notify.ts';
import { logDefaults, logSize } from './size.ts';
import { hsts, tls } from './tls.ts';
import { proxyDefaults } from './proxy-defaults.ts';

export { proxyDefaults };

// Config as written in zdd.yaml. Durations are strings with units; everything is validated here so the
// rest of zdd works with plain numbers (milliseconds, fractions, counts).

const duration = z.string({ error: 'expected a duration such as 200ms, 1s or 2m' }).transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration; write a number with ms, s or m, e.g. 200ms, 1s, 2m` });
    return z.NEVER;
  }
  // Node's timers overflow at 2^31 ms (a 600h stopTimeout fired after 1 ms): refuse rather than misbehave.
  if (ms > maxDurationMs) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is longer than the longest duration zdd accepts, ${formatDuration(maxDurationMs)} (24 days)` });
    return z.NEVER;
  }
  return ms;
});

const positiveDuration = duration.refine((ms) => ms > 0, 'must be longer than 0ms');

/** "5%" or a fraction between 0 and 1. */
const fraction = z.union([z.number(), z.string()], { error: 'expected a percentage such as 5% or a fraction such as 0.05' }).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : /^\s*\d+(\.\d+)?\s*%\s*$/.test(v) ? Number.parseFloat(v) / 100 : Number.NaN;
  if (!(n >= 0 && n <= 1)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a share; write a percentage such as 5% or a fraction such as 0.05` });
    return z.NEVER;
  }
  return n;
});

/** A count of instances, or a percentage of replicas ("25%"). */
const countOrPercent = z.union([z.number().int().min(0), z.string().regex(/^\d+%$/, 'expected a count such as 1 or a percentage such as 25%')], {
  error: 'expected a count such as 1 or a percentage such as 25%',
});

const listen = z.union([z.string(), z.number()], { error: 'expected an address such as 127.0.0.1:8080' }).transform((v, ctx) => {
  const a = parseListen(String(v));
  if (!a) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not an address; write host:port, e.g. 127.0.0.1:8080` });
    return z.NEVER;
  }
  return a;
});

/** A host name ("app.example.com"), IP address, or one-level wildcard ("*.example.com"), normalised. */
const hostPattern = z.string({ error: 'expected a host name such as app.example.com or *.example.com' }).transform((v, ctx) => {
  const r = parseHostPattern(v);
  if ('error' in r) {
    ctx.addIssue({ code: 'custom', message: r.error });
    return z.NEVER;
  }
  return r.host;
});

/** A path prefix ("/api"), normalised; "/" alone means every path, the same as none. */
const pathPrefix = z.string({ error: 'expected a path prefix such as /api' }).transform((v, ctx) => {
  const r = parsePathPrefix(v);
  if ('error' in r) {
    ctx.addIssue({ code: 'custom', message: r.error });
    return z.NEVER;
  }
  return r.prefix;
});

const unique = <T>(list: T[]): T[] => [...new Set(list)];

const paths = z.array(pathPrefix).transform((list, ctx) => {
  const all = unique(list);
  if (all.includes('/') && all.length > 1) {
    ctx.addIssue({ code: 'custom', message: '"/" already covers every path: write either "/" or the other prefixes' });
    return z.NEVER;
  }
  return all.filter((p) => p !== '/');
});

const envValue = z.union([z.string(), z.number(), z.boolean()], { error: 'env values must be strings, numbers or booleans' }).transform(String);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _, not starting with a digit');

const health = z
  .strictObject({
    path: z.string().startsWith('/', 'must start with /').optional(),
    interval: positiveDuration.default(1000),
    timeout: positiveDuration.default(2000),
    startTimeout: positiveDuration.default(30_000),
    healthyThreshold: z.number().int().min(1).default(1),
    unhealthyThreshold: z.number().int().min(1).default(3),
  })
  .default({ interval: 1000, timeout: 2000, startTimeout: 30_000, healthyThreshold: 1, unhealthyThreshold: 3 });

const blueGreen = z.strictObject({
  type: z.literal('blue-green'),
  /** How long the previous release stays running, warm, so `zdd rollback` is instant. */
  rollbackWindow: duration.default(30_000),
});

const canaryStep = z.strictObject({
  // 100% is not a step: after the last step the canary takes all traffic by itself.
  weight: z.number().gt(0, 'must be more than 0').lt(100, 'must be less than 100: after the last step the canary takes all traffic anyway'),
  /** Hold this weight this long; no pause: wait for `zdd promote`. */
  pause: duration.optional(),
});

const analysisDefaults = {
  alpha: defaultAnalysisSettings.alpha,
  passAlpha: defaultAnalysisSettings.passAlpha,
  maxErrorRateIncrease: defaultAnalysisSettings.maxErrorRateIncrease,
  maxClientErrorIncrease: defaultAnalysisSettings.maxClientErrorIncrease,
  maxRedirectIncrease: defaultAnalysisSettings.maxRedirectIncrease,
  latencyRatio: defaultAnalysisSettings.latencyRatio,
  latencyMinIncrease: defaultAnalysisSettings.latencyMinIncreaseMs,
  minRequests: defaultAnalysisSettings.minRequests,
  guardRails: defaultAnalysisSettings.guardRails,
  deadline: 120_000,
  interval: 250,
};

const analysis = z
  .strictObject({
    /** Probability budget for rolling back a canary that is not worse (over the whole rollout). */
    alpha: z.number().gt(0).lt(0.5).default(analysisDefaults.alpha),
    /** Probability of passing a step whose canary is worse than a margin. */
    passAlpha: z.number().gt(0).lt(0.5).default(analysisDefaults.passAlpha),
    /** Tolerated canary-minus-stable share of 5xx and connection errors. */
    maxErrorRateIncrease: fraction.default(analysisDefaults.maxErrorRateIncrease),
    /** Tolerated canary-minus-stable share of 4xx answers. */
    maxClientErrorIncrease: fraction.default(analysisDefaults.maxClientErrorIncrease),
    /** Tolerated canary-minus-stable share of 3xx answers. */
    maxRedirectIncrease: fraction.default(analysisDefaults.maxRedirectIncrease),
    /** A canary answer is slow when above this × stable's p50/p90/p99 … */
    latencyRatio: z.number().gt(1).default(analysisDefaults.latencyRatio),
    /** … and at least this much above it. */
    latencyMinIncrease: duration.default(analysisDefaults.latencyMinIncrease),
    /** Absolute ceilings for the canary, whatever stable does. */
    maxErrorRate: fraction.optional(),
    maxP99: positiveDuration.optional(),
    /** Clients needed on each side in a step before it may pass (a floor: the evidence decides). */
    minRequests: z.number().int().min(1).default(analysisDefaults.minRequests),
    /** Ceilings from the best of the recent releases, against a slow drift of small regressions. */
    guardRails: z.boolean().default(analysisDefaults.guardRails),
    /** How long a step may wait beyond its pause for a verdict before the deployment pauses for a person. */
    deadline: positiveDuration.default(analysisDefaults.deadline),
    /** How often the analysis is evaluated. */
    interval: positiveDuration.default(analysisDefaults.interval),
  })
  .default(analysisDefaults);

const canary = z.strictObject({
  type: z.literal('canary'),
  steps: z
    .array(canaryStep)
    .min(1, 'a canary needs at least one step')
    .superRefine((steps, ctx) => {
      // Weights only rise: a lower weight would move sticky clients back off the canary mid-rollout.
      for (let i = 1; i < steps.length; i++) {
        if (steps[i]!.weight < steps[i - 1]!.weight) {
          ctx.addIssue({ code: 'custom', path: [i, 'weight'], message: `${steps[i]!.weight} is lower than the step before (${steps[i - 1]!.weight}); canary weights only rise` });
        }
      }
    }),
  analysis,
  /** Retry idempotent requests that failed on the canary on the stable release. */
  retryOnStable: z.boolean().default(true),
});

const rolling = z.strictObject({
  type: z.literal('rolling'),
  maxSurge: countOrPercent.default(1),
  maxUnavailable: countOrPercent.default(0),
  onFailure: z.enum(['revert', 'pause']).default('revert'),
});

const strategyTypes = ['blue-green', 'canary', 'rolling'] as const;
const strategy = z
  .preprocess((v) => (typeof v === 'string' ? { type: v } : v), z.discriminatedUnion('type', [blueGreen, canary, rolling], {
    error: `expected one of ${strategyTypes.join(', ')}`,
  }))
  .default({ type: 'blue-green', rollbackWindow: 30_000 });

/** A network written as a CIDR ("10.0.0.0/8", "::1/128") or a single address. */
const network = z.string({ error: 'expected a network such as 10.0.0.0/8 or an address such as 192.0.2.7' }).transform((v, ctx) => {
  const n = parseNetwork(v);
  if (!n) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a network; write an address with a prefix length, e.g. 10.0.0.0/8 or fd00::/8` });
    return z.NEVER;
  }
  return n;
});

const proxy = z
  .strictObject({
    /** Upper bound on waiting for an upstream's response headers, and between its body chunks. */
    timeout: positiveDuration.default(proxyDefaults.timeout),
    /** Connections each upstream instance may hold open to the proxy. */
    connections: z.number().int().min(1).default(proxyDefaults.connections),
    /** How long a request may wait for a free upstream connection before a 503. */
    queueTimeout: positiveDuration.default(proxyDefaults.queueTimeout),
    /** How long a request may wait for a routable instance (none yet, all restarting, or the service paused) before a 503; 0s: at once. */
    holdTimeout: duration.default(proxyDefaults.holdTimeout),
    /** How long a client may take to send the request line and headers (408). */
    headerTimeout: positiveDuration.default(proxyDefaults.headerTimeout),
    /** Longest pause inside a request body (408). */
    bodyIdleTimeout: positiveDuration.default(proxyDefaults.bodyIdleTimeout),
    /** Longest time to receive a whole request body (408). */
    bodyTimeout: positiveDuration.default(proxyDefaults.bodyTimeout),
    /** Longest a response may wait for a client that reads nothing before the connection is closed. */
    sendTimeout: positiveDuration.default(proxyDefaults.sendTimeout),
    /** Open connections per client address (addresses in trustedNetworks are exempt). */
    maxConnectionsPerClient: z.number().int().min(1).default(proxyDefaults.maxConnectionsPerClient),
    /** Clients allowed to force a release, whose X-Forwarded-* headers are believed (a local TLS terminator). */
    trustedNetworks: z.array(network).default(proxyDefaults.trustedNetworks),
    /**
     * Data-plane processes for this service's address: 0 serves requests in the daemon process itself;
     * auto picks from the machine's cores (src/proxy/workers/worker-count.ts).
     */
    workers: z.union([z.literal('auto'), z.number().int().min(0).max(64)], { error: 'expected auto or a whole number of processes from 0 to 64' }).default('auto'),
  })
  .default(proxyDefaults);

const command = z.union([z.string().min(1, 'must not be empty'), z.array(z.string()).min(1, 'must not be empty')], {
  error: 'expected a command line such as "node server.js" or a list of arguments',
});

/** A path inside a release folder: relative, no "..", no leading "./" games that escape it. */
const releasePath = z.string({ error: 'expected a path relative to the source folder, e.g. uploads or db/app.sqlite' }).refine(
  (p) => p.length > 0 && !p.startsWith('/') && !p.split('/').some((part) => part === '..' || part === '.git' || part === '.zdd'),
  'must be a path inside the source folder (relative, without ".."), e.g. uploads or storage/app.db',
);

/** Reuse what the previous release's build produced when these files did not change (a lockfile). */
const buildCache = z.strictObject({
  /** Files (relative to the source folder) whose content decides whether the cache applies. */
  key: z.array(releasePath).min(1, 'name at least one file, e.g. package-lock.json'),
  /** What the build produces that can be reused, copied from the previous release's folder. */
  paths: z.array(releasePath).min(1, 'name at least one path, e.g. node_modules'),
});

export const serviceSchema = z.strictObject({
  listen,
  /**
   * Names this service answers for on its listen address (lower case, no trailing dot): exact names, IP
   * addresses, one-level wildcards ("*.example.com"). Empty: any host (the address's default service).
   */
  hosts: z.array(hostPattern).transform(unique).default([]),
  /** Path prefixes this service answers for ("/api": /api, /api/…, not /apix); no trailing slash; empty: every path. */
  paths: paths.default([]),
  /** Remove the matched path prefix before forwarding (/api/x → /x). Needs paths. */
  stripPrefix: z.boolean().default(false),
  /** Serve HTTPS on listen: certificate files (absolute once loaded) or certificates obtained by ACME. */
  tls: tls.optional(),
  /** A plain-HTTP listener for the service's hosts: answers ACME HTTP-01 challenges, redirects the rest to https (308). Needs tls. */
  redirectHttp: listen.optional(),
  /** Strict-Transport-Security max-age in ms, a whole number of seconds (header: max-age=hsts/1000). Needs tls. */
  hsts: hsts.optional(),
  command,
  /** The app's code, relative to zdd.yaml: each release runs from its own snapshot of it. */
  source: z.string().min(1, 'must not be empty').optional(),
  cwd: z.string().optional(),
  /** Shell command installing dependencies (npm ci…), run before build; skipped when buildCache reuses an earlier release's. */
  install: z.string().min(1, 'must not be empty').optional(),
  /** Shell command run once per release in its snapshot before any instance starts (compile, bundle…). */
  build: z.string().min(1, 'must not be empty').optional(),
  buildCache: buildCache.optional(),
  /** Shell command run once per deploy, after build and before the release gets traffic (migrations). */
  release: z.string().min(1, 'must not be empty').optional(),
  /** Shell command run against the new, healthy release before traffic moves; ZDD_SMOKE_URL reaches it. */
  smoke: z.string().min(1, 'must not be empty').optional(),
  /** Time limit for each of build, release and smoke. */
  hookTimeout: positiveDuration.default(600_000),
  /** Paths that persist across releases (uploads, SQLite files, .env): kept once per service, linked into each release. */
  shared: z.array(releasePath).default([]),
  /** Release folders kept (the live one, its warm predecessor and any in use are always kept). */
  keepReleases: z.number().int().min(1).max(1000).default(5),
  /** A dotenv file (relative to zdd.yaml) read at deploy time; its values are recorded with the release. */
  envFile: z.string().min(1, 'must not be empty').optional(),
  env: z.record(envName, envValue).default({}),
  replicas: z.number().int().min(1).max(256).default(1),
  health,
  strategy,
  drainTimeout: duration.default(30_000),
  stopTimeout: duration.default(10_000),
  proxy,
  /** Each instance's log file: rotated to <file>.1 … once it passes maxSize, `keep` files in all. Absent: logDefaults. */
  logs: z.strictObject({ maxSize: logSize.default(logDefaults.maxSize), keep: z.number().int().min(1).max(100).default(logDefaults.keep) }).optional(),
  /** Where this service's deployments and crashes are POSTed, besides the top-level notify (not part of a release). */
  notify: notifyList.optional(),
});

/** The HTTP control listener: off unless listen is set. */
const controlSchema = z.strictObject({
  listen,
  /** Certificate and key files (PEM), relative to zdd.yaml: the control listener speaks https. */
  tls: z.strictObject({ cert: z.string().min(1, 'must not be empty'), key: z.string().min(1, 'must not be empty') }, { error: 'expected { cert: file, key: file }' }).optional(),
  /** Allow a control listener beyond loopback without TLS (tokens then cross the network in the clear). */
  insecure: z.boolean().default(false),
});

export const configSchema = z.strictObject({
  control: controlSchema.optional(),
  /** Defaults for every service's proxy settings (a service's own `proxy` keys win); merged by parseConfig. */
  proxy: proxy.optional(),
  /** Where every service's deployments and crashes are POSTed. */
  notify: notifyList.default([]),
  services: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'service names are lowercase letters, digits, - and _'), serviceSchema),
});

/**
 * hosts, paths and stripPrefix are always set by parseConfig (defaults [], [], false); they are optional
 * in the type only because release specs stored before they existed lack them. Read them with `?? []`.
 */
export type ServiceSpec = Omit<z.output<typeof serviceSchema>, DefaultedRouteKeys | 'notify'> & Partial<Pick<z.output<typeof serviceSchema>, DefaultedRouteKeys>>;
type DefaultedRouteKeys = 'hosts' | 'paths' | 'stripPrefix';
export type StrategySpec = ServiceSpec['strategy'];
export type BlueGreenSpec = z.output<typeof blueGreen>;
export type CanarySpec = z.output<typeof canary>;
export type RollingSpec = z.output<typeof rolling>;
export type HealthSpec = ServiceSpec['health'];
export type AnalysisSpec = CanarySpec['analysis'];
export type { AcmeSpec, TlsAcmeSpec, TlsFilesSpec, TlsSpec } from './tls.ts';
export type ConfigFile = z.output<typeof configSchema>;
export type ControlSpec = z.output<typeof controlSchema>;
