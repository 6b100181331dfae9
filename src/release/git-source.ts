// What git knows about a source folder (commit, dirty or not) and how to lay out a commit's content of
// it. git runs without a shell, with a timeout, on the source's own repository (variables such as
// GIT_DIR, set when zdd runs from a git hook, would otherwise point it elsewhere).
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { ZddError } from '../errors.ts';
import type { SourceIgnore } from './source-ignore.ts';

const run = promisify(execFile);
const gitTimeoutMs = 30_000;
const archiveTimeoutMs = 300_000;
/** Variables that make git use another repository, index or work tree than the folder's own. */
const repoVariables = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_COMMON_DIR', 'GIT_PREFIX', 'GIT_NAMESPACE'];

function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' };
  for (const name of repoVariables) delete env[name];
  return env;
}

interface GitFailure {
  code?: number | string;
  killed?: boolean;
  stderr?: string;
}

async function git(source: string, args: string[]): Promise<string> {
  const { stdout } = await run('git', ['-C', source, ...args], { env: gitEnv(), timeout: gitTimeoutMs, maxBuffer: 64 << 20, encoding: 'utf8' });
  return stdout;
}

function gitFailed(source: string, args: string[], err: unknown): ZddError {
  const e = err as GitFailure;
  const why = e.killed ? `timed out after ${gitTimeoutMs / 1000} s` : (e.stderr?.trim() || String(err));
  return new ZddError('GIT_FAILED', `git ${args.join(' ')} failed in ${source}: ${why}`, `run \`git -C ${source} status\` to see what git says`, { cause: err });
}

/** Where the source sits in its repository: the work tree's root and the source's path in it ('' at the root, else 'a/b'). */
export interface GitPlace {
  toplevel: string;
  prefix: string;
}

/** The source's place in a git work tree; null when it is in none (or git is not installed), with git's reason. */
export async function gitPlace(source: string): Promise<{ place: GitPlace | null; reason: string }> {
  let out: string;
  try {
    out = await git(source, ['rev-parse', '--is-inside-work-tree', '--show-toplevel', '--show-prefix']);
  } catch (err) {
    const e = err as GitFailure;
    return { place: null, reason: e.code === 'ENOENT' ? 'git is not installed' : e.stderr?.trim() || String(err) };
  }
  const [inside, toplevel, prefix = ''] = out.split('\n');
  if (inside !== 'true' || !toplevel) return { place: null, reason: 'it is inside a .git folder, not a work tree' };
  return { place: { toplevel, prefix: prefix.replace(/\/$/, '') }, reason: '' };
}

/** HEAD, or null in a repository without commits. */
export async function headCommit(source: string): Promise<string | null> {
  const args = ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'];
  try {
    return (await git(source, args)).trim();
  } catch (err) {
    if ((err as GitFailure).code === 1) return null;
    throw gitFailed(source, args, err);
  }
}

/**
 * Whether the source differs from HEAD in what a snapshot takes: modified, staged, deleted or untracked
 * files under the source folder, except those the snapshot leaves out. Untracked files count (they are
 * in the snapshot but not in the commit); files git ignores do not (git does not see them), though the
 * snapshot takes them unless a .zddignore lists them.
 */
export async function isDirty(source: string, place: GitPlace, ignore: SourceIgnore): Promise<boolean> {
  const args = ['status', '--porcelain=v1', '-z', '--untracked-files=normal', '--', '.'];
  let out: string;
  try {
    out = await git(source, args);
  } catch (err) {
    throw gitFailed(source, args, err);
  }
  const fields = out.split('\0');
  const paths: string[] = [];
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.length < 4) continue;
    paths.push(f.slice(3));
    // A rename or copy is followed by the path it came from.
    if (/[RC]/.test(f.slice(0, 2))) paths.push(fields[++i] ?? '');
  }
  const under = place.prefix === '' ? '' : `${place.prefix}/`;
  for (const p of paths) {
    if (!p.startsWith(under) || p.length === under.length) continue;
    const rel = p.slice(under.length);
    const isDir = rel.endsWith('/');
    if (!(await ignore.leavesOut(isDir ? rel.slice(0, -1) : rel, isDir))) return true;
  }
  return false;
}

/** The commit `ref` names; GIT_REF_UNKNOWN when there is none, GIT_SOURCE_NOT_IN_REF when it lacks the source folder. */
export async function resolveRef(source: string, place: GitPlace, ref: string): Promise<string> {
  const unknown = () =>
    new ZddError('GIT_REF_UNKNOWN', `git ref "${ref}" names no commit in ${place.toplevel}`, `see the commits with \`git -C ${source} log --oneline\` (and fetch, if the ref is on a remote)`);
  // A ref starting with '-' would be read as an option.
  if (ref === '' || ref.startsWith('-')) throw unknown();
  const commit = await verify(source, `${ref}^{commit}`);
  if (!commit) throw unknown();
  if (place.prefix !== '' && (await objectType(source, `${commit}:${place.prefix}`)) !== 'tree') {
    throw new ZddError(
      'GIT_SOURCE_NOT_IN_REF',
      `commit ${commit.slice(0, 12)} (${ref}) has no folder ${place.prefix}`,
      `check the ref with \`git -C ${place.toplevel} ls-tree ${ref}\`, or deploy from the working tree`,
    );
  }
  return commit;
}

async function verify(source: string, rev: string): Promise<string | null> {
  const args = ['rev-parse', '--verify', '--quiet', rev];
  try {
    return (await git(source, args)).trim();
  } catch (err) {
    if ((err as GitFailure).code === 1 || (err as GitFailure).code === 128) return null;
    throw gitFailed(source, args, err);
  }
}

/** 'tree', 'blob'…, or null when `rev` names nothing. */
async function objectType(source: string, rev: string): Promise<string | null> {
  const args = ['cat-file', '-t', rev];
  try {
    return (await git(source, args)).trim();
  } catch (err) {
    if ((err as GitFailure).code === 128) return null;
    throw gitFailed(source, args, err);
  }
}

/**
 * Writes the commit's content of the source folder into `into` (an existing, empty folder): `git archive
 * | tar -x`, both spawned without a shell (spawn rather than execFile: the tar stream is piped, not kept).
 */
export async function extractCommit(place: GitPlace, commit: string, into: string): Promise<void> {
  const tree = place.prefix === '' ? `${commit}^{tree}` : `${commit}:${place.prefix}`;
  // From the top: run in a subfolder, git archive would take that subfolder of `tree` only.
  const source = place.toplevel;
  const archiveArgs = ['-C', source, 'archive', '--format=tar', tree];
  const archive = spawn('git', archiveArgs, { env: gitEnv(), timeout: archiveTimeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  const tar = spawn('tar', ['-x', '-f', '-', '-C', into, '--no-same-owner'], { timeout: archiveTimeoutMs, stdio: ['pipe', 'ignore', 'pipe'] });
  archive.stdout.pipe(tar.stdin);
  // tar failing early closes its stdin; git then gets EPIPE, reported through its exit status.
  tar.stdin.on('error', () => {});
  const [a, t] = await Promise.all([finished(archive), finished(tar)]);
  if (a.status !== 0 || t.status !== 0) {
    const why = (r: { status: number | string; stderr: string }) => (r.status === 'SIGTERM' ? `timed out after ${archiveTimeoutMs / 1000} s` : r.stderr || `exit ${r.status}`);
    const what = a.status !== 0 ? `git archive ${tree}: ${why(a)}` : `tar -x: ${why(t)}`;
    throw new ZddError('GIT_FAILED', `could not lay out ${tree} from ${source}: ${what}`, `run \`git -C ${source} archive ${tree} | tar -t\` to see what fails`);
  }
}

function finished(child: ReturnType<typeof spawn>): Promise<{ status: number | string; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString('utf8');
  });
  return new Promise((resolve) => {
    child.once('error', (err) => resolve({ status: (err as NodeJS.ErrnoException).code ?? 'error', stderr: err.message }));
    child.once('close', (code, signal) => resolve({ status: code ?? signal ?? 'unknown', stderr: stderr.trim() }));
  });
}
