import type { StrategySpec } from '../../config/schema.ts';
import type { Strategy } from '../strategy.ts';
import { blueGreen } from './blue-green.ts';
import { canary } from './canary.ts';
import { rolling } from './rolling.ts';

/** The strategy a service's config names, bound to its settings. */
export function strategyFor(spec: StrategySpec): Strategy {
  switch (spec.type) {
    case 'blue-green':
      return blueGreen(spec);
    case 'canary':
      return canary(spec);
    case 'rolling':
      return rolling(spec);
  }
}

/** A rollback is a blue-green switch; the previous release stays warm only where blue-green is the strategy. */
export function rollbackStrategy(spec: StrategySpec): Strategy {
  return blueGreen({ rollbackWindow: spec.type === 'blue-green' ? spec.rollbackWindow : 0 });
}
