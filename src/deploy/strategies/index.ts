import type { StrategySpec } from '../../config/schema.ts';
import type { Strategy } from '../strategy.ts';
import { blueGreen } from './blue-green.ts';

export function strategyFor(spec: StrategySpec): Strategy {
  switch (spec.type) {
    case 'blue-green':
      return blueGreen;
    case 'canary':
    case 'rolling':
      throw new Error(`strategy ${spec.type} is not available yet`);
  }
}
