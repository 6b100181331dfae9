import { ExitCode } from '../errors.ts';

/**
 * `zdd status --watch | head -3`: once the reader is gone there is no one left to tell anything, and
 * the command did what was asked. End quietly, with success, instead of an EPIPE stack trace.
 * Not for `zdd serve`: a daemon outlives the reader of its log.
 */
export function endQuietlyWhenOutputCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(ExitCode.ok);
    throw err;
  });
}
