import { lstatSync, mkdirSync, readFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { ZddError } from '../errors.ts';

// Deploy requests carry env (secrets), so both ends trust only a socket of their own user, in a directory
// no other user can enter: a socket someone else created first would receive those requests.

/** Who is asking: the daemon about to bind, or the CLI about to connect. The checks are the same; the next step differs. */
export type Side = 'daemon' | 'client';

/** The daemon's side: creates the private socket directory (mode 0700) and refuses one that is not private. */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') {
      throw new ZddError('SOCKET_DIR_UNSAFE', `cannot create the control socket's directory ${dir}: ${(err as Error).message}`, 'set XDG_RUNTIME_DIR (or TMPDIR) to a directory of yours, or use a shorter --data-dir');
    }
  }
  verifyPrivateDir(dir);
}

/**
 * Throws unless dir is a real directory (not a symlink), owned by this user, with no group or other
 * permission bits. Returns false when it does not exist (no daemon has used it yet).
 */
export function verifyPrivateDir(dir: string): boolean {
  const st = lstatOrUndefined(dir);
  if (!st) return false;
  const me = uid();
  if (me === undefined) return true;
  const problems: string[] = [];
  if (st.isSymbolicLink()) problems.push('is a symbolic link');
  else if (!st.isDirectory()) problems.push('is not a directory');
  if (st.uid !== me) problems.push(`belongs to ${userName(st.uid)}, not to ${userName(me)}`);
  else if (st.isDirectory() && (st.mode & 0o077) !== 0) problems.push(`has mode ${(st.mode & 0o777).toString(8)}, so other users can enter it`);
  if (problems.length === 0) return true;
  const onlyMode = st.uid === me && st.isDirectory();
  throw new ZddError(
    st.uid === me ? 'SOCKET_DIR_UNSAFE' : 'SOCKET_NOT_OURS',
    `refusing the control socket directory ${dir}: it ${problems.join(' and ')}`,
    onlyMode
      ? `make it private: chmod 700 ${dir}`
      : `remove it (as ${userName(st.uid)} or root), or set XDG_RUNTIME_DIR to a private directory of yours; zdd creates ${dir} itself, with mode 0700`,
  );
}

/**
 * Throws unless the file at socketPath is a socket of this user. Returns false when there is none.
 * The daemon calls it before replacing a stale socket, the CLI before sending a request.
 */
export function verifySocketFile(socketPath: string, side: Side): boolean {
  const st = lstatOrUndefined(socketPath);
  if (!st) return false;
  const me = uid();
  if (!st.isSocket()) {
    throw new ZddError(
      'NOT_A_SOCKET',
      `${socketPath} is not a socket (it is ${kindOf(st)}), so no zdd daemon listens there`,
      side === 'daemon' ? `it is not zdd's: move it elsewhere, then start zdd again` : `remove it, then start the daemon: zdd serve`,
    );
  }
  if (me === undefined || st.uid === me) return true;
  const owner = userName(st.uid);
  if (side === 'daemon') {
    throw new ZddError(
      'SOCKET_NOT_OURS',
      `the control socket ${socketPath} belongs to ${owner}, not to ${userName(me)}: zdd does not replace another user's socket`,
      `if ${owner} runs zdd with this data dir, use another --data-dir; otherwise remove the socket (as ${owner} or root)`,
    );
  }
  throw new ZddError(
    'SOCKET_NOT_OURS',
    `the control socket ${socketPath} belongs to ${owner}, not to you (${userName(me)}): zdd does not send requests, with their env, to another user's socket`,
    `run zdd as ${owner}, the user running the daemon; if ${owner} should not own it, remove it (as ${owner} or root)`,
  );
}

/** The owner of p, or of its nearest ancestor this user can see (for "permission denied" messages). */
export function nearestOwner(p: string): { path: string; owner: string; ours: boolean } | undefined {
  for (let at = path.resolve(p); ; at = path.dirname(at)) {
    try {
      const st = lstatSync(at);
      return { path: at, owner: userName(st.uid), ours: st.uid === uid() };
    } catch {
      if (at === path.dirname(at)) return undefined;
    }
  }
}

/** A user's name from /etc/passwd, or "uid N" when it has none there. */
export function userName(id: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , field] = line.split(':');
      if (name && Number(field) === id && field !== '') return name;
    }
  } catch {
    // no passwd file (a container, another OS): the number will do
  }
  return `uid ${id}`;
}

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function uid(): number | undefined {
  return process.getuid?.();
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  return 'a special file';
}
