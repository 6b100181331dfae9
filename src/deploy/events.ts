import type { DeploymentKind, DeploymentStatus, StepStatus } from '../store/store.ts';
import type { ReleaseSet } from '../release/release-set.ts';

/** What a deployment reports while it runs: the CLI prints these as progress. */
export type DeployEvent =
  | {
      type: 'started';
      service: string;
      deployment: number;
      kind: DeploymentKind;
      strategy: string;
      release: { number: number; version: string };
      from: { number: number; version: string } | null;
    }
  | { type: 'step'; at: number; step: string; status: StepStatus; detail: string | null }
  /** Live numbers while a step holds (not recorded: the step's outcome is). */
  | { type: 'progress'; at: number; text: string }
  /** The deployment waits for a person (zdd promote or zdd abort): `zdd deploy` exits 4. */
  | { type: 'paused'; at: number; reason: string }
  | { type: 'finished'; deployment: number; status: DeploymentStatus; reason: string | null; release: number };

export type DeployListener = (event: DeployEvent) => void;

/**
 * Watches every deployment and release set the engine makes (notifications). It must return at once and
 * never throw: a deployment never waits for it.
 */
export interface DeployObserver {
  /** A listener for a deployment that starts now; it hears everything a client following it would. */
  deployment(): DeployListener;
  /** A release set was made: its instances' crashes are worth telling. */
  releaseSet(service: string, set: ReleaseSet): void;
  /** The engine shuts down: finish what is under way, briefly (it may drop the rest). */
  close(): Promise<void>;
  /** A canary step's analysis decided (metrics). */
  verdict?(service: string, verdict: CanaryVerdict): void;
}

/** pass: the step moves on; fail: the canary is rolled back; inconclusive: the deployment pauses for a person. */
export type CanaryVerdict = 'pass' | 'fail' | 'inconclusive';

/** Several observers as one (notifications and metrics). */
export function observeAll(observers: DeployObserver[]): DeployObserver {
  return {
    deployment: () => {
      const listeners = observers.map((o) => o.deployment());
      return (e) => {
        for (const l of listeners) l(e);
      };
    },
    releaseSet: (service, set) => {
      for (const o of observers) o.releaseSet(service, set);
    },
    close: async () => void (await Promise.all(observers.map((o) => o.close()))),
    verdict: (service, verdict) => {
      for (const o of observers) o.verdict?.(service, verdict);
    },
  };
}
