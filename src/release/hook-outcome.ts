import { ZddError } from '../errors.ts';
import { formatDuration } from '../config/duration.ts';
import type { HookName, HookResult } from './hooks.ts';

// A hook's result in words: one line for history and status, a reason with its last output for a
// failed deploy, and the coded error the deploy fails with.

/** One line, e.g. "build succeeded in 3.2s", "build exited with code 1 after 3.2s". */
export function summarizeHook(r: HookResult): string {
  const took = formatDuration(r.durationMs);
  switch (r.outcome) {
    case 'ok':
      return `${r.name} succeeded in ${took}`;
    case 'timed-out':
      return `${r.name} did not finish within its timeout of ${formatDuration(r.timeoutMs)} and was stopped`;
    case 'cancelled':
      return `${r.name} was cancelled after ${took}${r.cancelReason ? ` (${r.cancelReason})` : ''}`;
    case 'failed':
      if (r.exit.signal) return `${r.name} was killed by ${r.exit.signal} after ${took}`;
      if (r.exit.code === null) return `${r.name} could not be started`;
      return `${r.name} exited with code ${r.exit.code} after ${took}`;
  }
}

/** The reason a deploy fails with: the summary and the hook's last lines of output. */
export function describeHookFailure(r: HookResult): string {
  const output = r.lastLines.length ? `; last output:\n    ${r.lastLines.join('\n    ')}` : '; it printed nothing';
  return `${summarizeHook(r)}${output}`;
}

const codes: Record<HookName, string> = {
  install: 'INSTALL_FAILED',
  build: 'BUILD_FAILED',
  release: 'RELEASE_COMMAND_FAILED',
  smoke: 'SMOKE_TEST_FAILED',
};

/** What a failed hook means for the deploy, and where to look next. */
function hintFor(r: HookResult, service: string): string {
  const where = r.name === 'install' || r.name === 'build' ? `zdd logs ${service} --build` : r.logFile;
  const untouched = 'the running release was not touched';
  switch (r.name) {
    case 'install':
    case 'build':
      return `see its output with ${where}, fix it and deploy again; ${untouched}`;
    case 'release':
      return `see its output in ${where}, fix it and deploy again; ${untouched} and still gets all traffic, but a command that stopped part-way (a migration) may have changed data`;
    case 'smoke':
      return `see its output in ${where}; the new release got no traffic and ${untouched}`;
  }
}

/** A failed hook as the error a deploy fails with (exit 1); a cancelled one is DEPLOY_CANCELLED, as elsewhere. */
export class HookFailure extends ZddError {
  readonly result: HookResult;

  constructor(r: HookResult, service: string) {
    if (r.outcome === 'cancelled') super('DEPLOY_CANCELLED', summarizeHook(r));
    else super(codes[r.name], describeHookFailure(r), r.outcome === 'timed-out' ? `raise its timeout in zdd.yaml if it needs longer; ${hintFor(r, service)}` : hintFor(r, service));
    this.result = r;
  }
}
