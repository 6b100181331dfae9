import type { DeployContext } from './context.ts';

export type StrategyResult =
  | { status: 'succeeded'; reason?: string }
  | { status: 'failed' | 'rolled-back' | 'aborted'; reason: string };

/** One way of replacing the live release with a new one, written over the shared steps of DeployContext. */
export interface Strategy {
  readonly name: string;
  run(ctx: DeployContext): Promise<StrategyResult>;
}
