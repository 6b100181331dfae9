import { formatDuration } from '../config/duration.ts';
import type { ServiceState } from '../deploy/service-state.ts';
import type { Store } from '../store/store.ts';

/** What POST pause and resume answer. */
export interface PauseAnswer {
  service: string;
  /** Paused after the call; null once resumed. */
  paused: { since: number; maintenance: string | null } | null;
  /** Requests waiting at the moment of the answer. */
  held: number;
  message: string;
}

/**
 * zdd pause: new requests wait (up to proxy.holdTimeout each) until resume, or, with a maintenance text,
 * are answered 503 with it at once. Requests in flight finish. Recorded: a restarted zdd (zdd restart,
 * or after a crash) pauses the service again before it serves.
 */
export function pauseService(s: ServiceState, store: Store, maintenance: string | undefined): PauseAnswer {
  const p = s.plane.pause(maintenance);
  store.savePause(s.name, p.since, p.maintenance);
  const message =
    maintenance === undefined
      ? `${s.name} is paused: new requests wait (up to ${formatDuration(s.config.proxy.holdTimeout)} each) until zdd resume ${s.name}`
      : `${s.name} is in maintenance: new requests get 503 with "${maintenance}" until zdd resume ${s.name}`;
  store.addEvent({ service: s.name, type: 'pause', message, data: { maintenance: maintenance ?? null } });
  return { service: s.name, paused: { since: p.since, maintenance: p.maintenance ?? null }, held: s.plane.held, message };
}

/** zdd resume: held requests go on. Resuming a service that is not paused changes nothing and says so. */
export function resumeService(s: ServiceState, store: Store): PauseAnswer {
  const held = s.plane.held;
  const was = s.plane.resume();
  store.clearPause(s.name);
  const message = was ? `${s.name} resumed${held > 0 ? `: ${held} held request(s) go on` : ''}` : `${s.name} was not paused`;
  if (was) store.addEvent({ service: s.name, type: 'resume', message });
  return { service: s.name, paused: null, held, message };
}
