import { Command, Option } from 'commander';
import type { LogFormat } from '../../daemon/logger.ts';
import { configPath, dataDir, withCommonOptions, type CommonOptions } from '../context.ts';
import { describeError, exitCodeFor } from '../exit.ts';

export function serveCommand(): Command {
  return withCommonOptions(new Command('serve'), false)
    .description('run the daemon in the foreground: proxies, instances and the control API')
    .addOption(new Option('--log-format <format>', 'log lines for people or for machines').choices(['pretty', 'json']).default('pretty'))
    .addOption(new Option('--takeover', 'internal: started by zdd restart to take over from the running daemon').hideHelp())
    .action(async (o: CommonOptions & { logFormat: LogFormat; takeover?: boolean }) => {
      // Loaded here, not at the top: the other commands start faster without the daemon's modules.
      const [{ Daemon }, { createLogger }] = await Promise.all([import('../../daemon/daemon.ts'), import('../../daemon/logger.ts')]);
      // A write to stdout or stderr that fails (EPIPE, a full disk under a redirect) costs that line, not the daemon.
      for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
      const { log, dropped } = await createLogger(o.logFormat);
      let daemon: Awaited<ReturnType<typeof Daemon.start>>;
      try {
        daemon = await Daemon.start({ configPath: configPath(o), dataDir: dataDir(o), log, logFormat: o.logFormat, takeover: o.takeover === true, exit: (code) => process.exit(code), droppedLogLines: dropped });
      } catch (err) {
        // The failed start let go of the socket, daemon.json and the ports; nothing may keep this process up.
        process.stderr.write(`${describeError(err)}\n`);
        process.exit(exitCodeFor(err));
      }
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        if (++signals > 1) {
          log.warn(`${signal} again: killing instances without draining`);
          daemon.killInstances();
          process.exit(1);
        }
        log.info(`${signal} received`);
        daemon.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            log.error({ err }, 'stop failed');
            daemon.killInstances();
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      // SIGHUP: certificate files were renewed (certbot's deploy hook: kill -HUP <pid>).
      process.on('SIGHUP', () => {
        log.info('SIGHUP received: reading TLS certificate files again');
        daemon.reloadCertificates().catch((err: unknown) => log.error({ err }, 'reading TLS certificate files again failed'));
      });
      process.on('exit', () => daemon.killInstances());
      process.on('uncaughtException', (err) => {
        log.fatal({ err }, 'uncaught exception: stopping');
        daemon.killInstances();
        process.exit(1);
      });
    });
}
