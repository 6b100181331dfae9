import type { DeployContext } from '../context.ts';
import type { Strategy, StrategyResult } from '../strategy.ts';

/**
 * Start the whole new set beside the old one, wait until every instance is healthy, switch all traffic
 * at once, keep the old set warm for an instant rollback, then drain and stop it.
 */
export const blueGreen: Strategy = {
  name: 'blue-green',
  async run(ctx: DeployContext): Promise<StrategyResult> {
    const set = await ctx.startSet(ctx.config.replicas);
    const strategy = ctx.config.strategy;
    ctx.goLive(set, strategy.type === 'blue-green' ? strategy.rollbackWindow : 0);
    return { status: 'succeeded' };
  },
};
