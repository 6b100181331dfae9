import { Command, CommanderError } from 'commander';
import { ExitCode } from '../errors.ts';
import { version } from '../version.ts';
import { abortCommand } from './commands/abort.ts';
import { demoCommand } from './commands/demo.ts';
import { deployCommand } from './commands/deploy.ts';
import { historyCommand } from './commands/history.ts';
import { initCommand } from './commands/init.ts';
import { logsCommand } from './commands/logs.ts';
import { pauseCommand } from './commands/pause.ts';
import { promoteCommand } from './commands/promote.ts';
import { restartCommand } from './commands/restart.ts';
import { resumeCommand } from './commands/resume.ts';
import { rollbackCommand } from './commands/rollback.ts';
import { serveCommand } from './commands/serve.ts';
import { statusCommand } from './commands/status.ts';
import { stopCommand } from './commands/stop.ts';
import { tokenCommand } from './commands/token.ts';
import { endQuietlyWhenOutputCloses } from './closed-output.ts';
import { describeError, exitCodeFor } from './exit.ts';

const program = new Command('zdd')
  .description('zero-downtime deploys (blue-green, canary, rolling) for web services on your own servers')
  .version(version, '-V, --version', 'print the zdd version')
  .enablePositionalOptions()
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

for (const cmd of [initCommand(), serveCommand(), deployCommand(), statusCommand(), historyCommand(), logsCommand(), rollbackCommand(), promoteCommand(), abortCommand(), pauseCommand(), resumeCommand(), restartCommand(), stopCommand(), tokenCommand(), demoCommand()]) {
  program.addCommand(cmd.exitOverride());
}
// The daemon keeps running when its output's reader goes; the demo has a daemon and instances to clean up.
program.hook('preAction', (_program, command) => {
  if (command.name() !== 'serve' && command.name() !== 'demo') endQuietlyWhenOutputCloses();
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version output end here too, with their own exit code (0).
    process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  } else {
    process.stderr.write(`${describeError(err)}\n`);
    process.exitCode = exitCodeFor(err);
  }
}
