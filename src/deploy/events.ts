import type { DeploymentKind, DeploymentStatus, StepStatus } from '../store/store.ts';

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
