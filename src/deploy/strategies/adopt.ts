import type { Adoptee } from '../../release/release-set.ts';
import type { DeployContext } from '../context.ts';
import type { Strategy, StrategyResult } from '../strategy.ts';

/**
 * After a crash of the daemon: the live release's instances still run, so they serve again as they are
 * (no restart), each once a health check passes. Instances missing from `replicas` start after the switch.
 */
export function adoption(adoptees: readonly Adoptee[]): Strategy {
  return {
    name: 'adopt',
    async run(ctx: DeployContext): Promise<StrategyResult> {
      const { health } = ctx.release.spec;
      const set = ctx.newSet();
      ctx.service.admit(set);
      ctx.report('adopt', 'started', `adopting ${adoptees.map((a) => `${a.id} (pid ${a.pid})`).join(', ')}, left running by the previous zdd`);
      // One check's worth of time (a few intervals): an instance that does not answer now is not worth waiting for.
      const members = await set.adopt(adoptees, health.timeout + health.interval * (health.healthyThreshold + 1));
      if (members.length === 0) {
        ctx.service.dismiss(set);
        await set.stop(0);
        ctx.report('adopt', 'failed', 'no instance passed its health check');
        return { status: 'failed', reason: 'no instance left running by the previous zdd passed its health check' };
      }
      ctx.report('adopt', 'done', `${members.map((m) => m.instance.id).join(', ')} serve again, not restarted`);
      ctx.goLive(set, 0);
      const missing = ctx.config.replicas - set.size;
      if (missing > 0) {
        // After the switch, so that what was adopted serves at once; the deployment does not wait for these.
        ctx.report('start', 'info', `starting ${missing} more instance(s) to reach ${ctx.config.replicas}`);
        set.grow(missing).catch((err: unknown) => ctx.log.warn({ service: ctx.service.name, err }, `starting the missing instance(s) of release ${set.release.number} failed`));
      }
      return { status: 'succeeded', reason: `${members.length} instance(s) adopted without a restart` };
    },
  };
}
