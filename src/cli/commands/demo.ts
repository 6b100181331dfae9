import { Command } from 'commander';

export function demoCommand(): Command {
  return new Command('demo')
    .description('watch zdd work: a temporary project, the bundled example app, real traffic, several deploys and a summary (under a minute)')
    .action(async () => {
      const { runDemo } = await import('../../demo/run-demo.ts');
      process.exitCode = await runDemo();
    });
}
