import type { StrategySpec } from '../../config/schema.ts';
import type { Strategy } from '../strategy.ts';
import { blueGreen } from './blue-green.ts';
import { canary } from './canary.ts';
import { rolling } from './rolling.ts';

export function strategyFor(spec: StrategySpec): Strategy {
  switch (spec.type) {
    case 'blue-green':
      return blueGreen;
    case 'canary':
      return canary;
    case 'rolling':
      return rolling;
  }
}
