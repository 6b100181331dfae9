import type { BlueGreenSpec } from '../../config/schema.ts';
import type { DeployContext } from '../context.ts';
import type { Strategy, StrategyResult } from '../strategy.ts';

/**
 * Start the whole new set beside the old one, wait until every instance is healthy, switch all traffic
 * at once, keep the old set warm for an instant rollback (`rollbackWindow`), then drain and stop it.
 */
export function blueGreen(spec: Pick<BlueGreenSpec, 'rollbackWindow'>): Strategy {
  return {
    name: 'blue-green',
    async run(ctx: DeployContext): Promise<StrategyResult> {
      const set = await ctx.startSet(ctx.config.replicas);
      ctx.goLive(set, spec.rollbackWindow);
      return { status: 'succeeded' };
    },
  };
}
