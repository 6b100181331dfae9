// Every error zdd shows a user carries a stable code (callers branch on it, not on text) and,
// where there is one, the next thing to do.
export class ZddError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, hint?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ZddError';
    this.code = code;
    this.hint = hint;
  }
}

/** Exit codes shared by every command. */
export const ExitCode = {
  ok: 0,
  /** The operation ran and failed (a deploy that did not go live, a rollback that could not happen). */
  failed: 1,
  /** Bad usage or a bad config: nothing was attempted. */
  usage: 2,
  /** No daemon answers for this data dir. */
  noDaemon: 3,
  /** The deployment waits for a person: not enough evidence to decide (zdd promote or zdd abort). */
  waiting: 4,
} as const;
