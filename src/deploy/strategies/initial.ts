import type { DeployContext } from '../context.ts';
import type { Strategy, StrategyResult } from '../strategy.ts';

/** Nothing is live yet (a first deploy, or the daemon restoring its last release): start it and serve it. */
export const initial: Strategy = {
  name: 'initial',
  async run(ctx: DeployContext): Promise<StrategyResult> {
    const set = await ctx.startSet(ctx.config.replicas);
    ctx.goLive(set, 0);
    return { status: 'succeeded' };
  },
};
