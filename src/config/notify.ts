import { z } from 'zod';

// `notify:` in zdd.yaml, at the top level (every service) and per service: where zdd POSTs what happens to
// deployments and instances.

/** Every event a notification can be about, in the order a deployment goes through them. */
export const notifyEvents = ['deploy.started', 'deploy.succeeded', 'deploy.failed', 'deploy.rolled_back', 'deploy.paused', 'instance.crashed'] as const;
export type NotifyEvent = (typeof notifyEvents)[number];

const url = z.string({ error: 'expected an http or https URL such as https://hooks.example.com/zdd' }).transform((v, ctx) => {
  const u = URL.parse(v.trim());
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not an http or https URL; write one such as https://hooks.example.com/zdd` });
    return z.NEVER;
  }
  return u.href;
});

const event = z.enum(notifyEvents, { error: (issue) => `${JSON.stringify(issue.input)} is not an event; the events are ${notifyEvents.join(', ')}` });

export const notifyEntry = z.strictObject({
  /** Where the JSON is POSTed. */
  url,
  /** What it is sent for; all six when absent. */
  events: z
    .array(event)
    .min(1, `name at least one event (or leave events out for all of them: ${notifyEvents.join(', ')})`)
    .transform((list) => notifyEvents.filter((e) => list.includes(e)))
    .default([...notifyEvents]),
  /** Key of the HMAC-SHA256 signature of each body (x-zdd-signature-256); never sent, never logged. */
  secret: z.string({ error: 'expected a string' }).min(1, 'must not be empty').optional(),
});

export const notifyList = z.array(notifyEntry, { error: 'expected a list of { url, events, secret }' });

export type NotifyEntry = z.output<typeof notifyEntry>;

/** Who hears about a service: the top-level entries and the service's own. */
export interface NotifyConfig {
  all: NotifyEntry[];
  services: Map<string, NotifyEntry[]>;
}

/**
 * The endpoints told about `service`'s `event`: the top-level entries and the service's own, an endpoint
 * (URL and secret) listed in both counted once.
 */
export function notifyTargets(config: NotifyConfig, service: string, event: NotifyEvent): NotifyEntry[] {
  const seen = new Set<string>();
  const out: NotifyEntry[] = [];
  for (const entry of [...config.all, ...(config.services.get(service) ?? [])]) {
    const key = endpointKey(entry);
    if (!entry.events.includes(event) || seen.has(key)) continue;
    seen.add(key);
    out.push(entry);
  }
  return out;
}

/** One delivery queue per URL and secret. */
export function endpointKey(entry: Pick<NotifyEntry, 'url' | 'secret'>): string {
  return JSON.stringify([entry.url, entry.secret ?? null]);
}
