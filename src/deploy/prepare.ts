import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { formatDuration } from '../config/duration.ts';
import { ZddError } from '../errors.ts';
import { cacheKey, decideCache, describeRestore, restoreCache, type CacheSource } from '../release/build-cache.ts';
import { hookLogFile, releaseFolder, sharedFolder } from '../release/folders.ts';
import { HookFailure, summarizeHook } from '../release/hook-outcome.ts';
import { runHook, type HookName } from '../release/hooks.ts';
import { releasesToPrune } from '../release/prune.ts';
import { linkShared } from '../release/shared-paths.ts';
import { loadManifest, saveManifest, snapshotSource, type PreviousSnapshot } from '../release/snapshot.ts';
import { scopeOf } from '../runtime/process-tracker.ts';
import type { Release, ReleaseSource } from '../store/store.ts';
import type { DeployContext } from './context.ts';

// A release is its code: before any instance of it starts, it gets a folder of its own (a snapshot of
// `source`, with the shared paths linked in), its dependencies and build, and — once per deploy — its
// release phase. Each step is reported and recorded; a failure ends the deploy before anything serves.

/** What `zdd deploy` may ask of the code: another folder, or a commit instead of the working tree. */
export interface CodeRequest {
  source?: string;
  gitRef?: string;
}

/** Where a snapshot's manifest is kept: beside its folder (the folder itself is the snapshot, read-only). */
function manifestFile(folder: string): string {
  return `${folder}.manifest.json`;
}

/**
 * A new release: its folder (snapshot + shared links), install and build, then the release phase.
 * Without `source` only the release phase can apply (it runs in cwd).
 */
export async function prepareRelease(ctx: DeployContext, req: CodeRequest): Promise<void> {
  const config = ctx.config;
  const sourceDir = req.source ?? config.source;
  if (sourceDir) {
    await makeFolder(ctx, sourceDir, req.gitRef);
    await build(ctx);
  }
  if (config.release) await hook(ctx, 'release', config.release, ctx.release.folder ?? ctx.release.spec.cwd);
}

/**
 * A release that runs again (a rollback, a restore): it runs its own folder. One that was pruned is made
 * again from its git commit when it has one (snapshot + build, never the release phase), else refused.
 */
export async function ensureReleaseCode(ctx: DeployContext): Promise<void> {
  const r = ctx.release;
  if (r.folder === null || (r.prunedAt === null && existsSync(r.folder))) return;
  const kept = `keepReleases: ${ctx.config.keepReleases}`;
  const commit = rebuildableFrom(r);
  if (!commit) {
    throw new ZddError(
      'RELEASE_FOLDER_GONE',
      `release ${r.number} of ${ctx.service.name} cannot run again: its folder ${r.folder} was deleted (${kept}) and no git commit holds its code`,
      `deploy that code again (zdd deploy ${ctx.service.name}), or raise keepReleases`,
    );
  }
  ctx.report('snapshot', 'info', `release ${r.number}'s folder was deleted (${kept}): making it again from commit ${commit.slice(0, 12)}`);
  rmSync(r.folder, { recursive: true, force: true });
  await makeFolder(ctx, r.source!.dir, commit);
  await build(ctx);
}

/** The commit that holds exactly a release's code: one it was made from cleanly (not a dirty working tree). */
export function rebuildableFrom(r: Release): string | undefined {
  return r.source?.commit && r.source.dirty === false ? r.source.commit : undefined;
}

/** The new release, healthy, before it gets traffic: its smoke test, with ZDD_SMOKE_URL on one of its instances. */
export async function smokeTest(ctx: DeployContext, port: number): Promise<void> {
  const command = ctx.config.smoke;
  if (!command) return;
  await hook(ctx, 'smoke', command, ctx.release.folder ?? ctx.release.spec.cwd, { ZDD_SMOKE_URL: `http://127.0.0.1:${port}` });
}

/**
 * After a successful deploy or rollback: delete the folders of releases beyond keepReleases, never one in
 * use (live, warm standby, starting, draining). Failures are reported, never fatal.
 */
export function pruneReleases(ctx: DeployContext): void {
  const { service, store } = ctx;
  const inUse = new Set([ctx.release.number, ...service.sets.map((s) => s.release.number)]);
  const all = store.releases(service.name, 10_000);
  const gone = releasesToPrune(all, ctx.config.keepReleases, inUse);
  const pruned: number[] = [];
  for (const n of gone) {
    const r = all.find((x) => x.number === n)!;
    try {
      rmSync(r.folder!, { recursive: true, force: true });
      rmSync(manifestFile(r.folder!), { force: true });
      removeLogs(path.dirname(hookLogFile(ctx.dataDir, service.name, n)), service.name, n);
      store.markPruned(r.id);
      pruned.push(n);
    } catch (err) {
      ctx.report('prune', 'info', `could not delete ${r.folder}: ${(err as Error).message}`);
    }
  }
  sweepPartials(releaseFolder(ctx.dataDir, service.name, 0));
  if (pruned.length > 0) ctx.report('prune', 'info', `deleted the folders of release(s) ${pruned.join(', ')} (keepReleases: ${ctx.config.keepReleases})`);
}

/** A pruned release's logs go with its folder: its instances' files (rotated ones too) and its hooks' log. */
function removeLogs(dir: string, service: string, release: number): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const mine = new RegExp(`^(${service}-r${release}-\\d+\\.log(\\.\\d+)?|hooks-r${release}\\.log)$`);
  for (const name of names) if (mine.test(name)) rmSync(path.join(dir, name), { force: true });
}

/** Snapshots left half-made by a crash (`<n>.partial-…`) are never a release: they go. */
function sweepPartials(anyFolder: string): void {
  const dir = path.dirname(anyFolder);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) if (/\.partial-/.test(name)) rmSync(path.join(dir, name), { recursive: true, force: true });
}

async function makeFolder(ctx: DeployContext, sourceDir: string, gitRef: string | undefined): Promise<void> {
  const r = ctx.release;
  const folder = releaseFolder(ctx.dataDir, ctx.service.name, r.number);
  ctx.report('snapshot', 'started', `of ${sourceDir}${gitRef ? ` at ${gitRef}` : ''} into ${folder}`);
  let info;
  try {
    const previous = gitRef === undefined ? await previousSnapshot(ctx, sourceDir) : undefined;
    const snap = await snapshotSource({ source: sourceDir, dest: folder, gitRef, previous });
    info = snap.info;
    await saveManifest(manifestFile(folder), snap.manifest).catch(() => undefined);
    if (ctx.config.shared.length > 0) {
      const links = linkShared({ releaseDir: folder, sharedDir: sharedFolder(ctx.dataDir, ctx.service.name), paths: ctx.config.shared });
      const said = [links.seeded.length ? `seeded from source: ${links.seeded.join(', ')}` : '', links.created.length ? `created empty: ${links.created.join(', ')}` : ''].filter(Boolean);
      ctx.report('shared', 'info', `linked ${ctx.config.shared.join(', ')} to ${sharedFolder(ctx.dataDir, ctx.service.name)}${said.length ? ` (${said.join('; ')})` : ''}`);
    }
  } catch (err) {
    ctx.report('snapshot', 'failed', (err as Error).message);
    throw err;
  }
  const source: ReleaseSource = { dir: info.dir, commit: info.commit, dirty: info.dirty, ref: info.ref, hash: info.hash, files: info.files, bytes: info.bytes };
  // A release made again from its commit keeps its folder's path, so its recorded cwd holds.
  const cwd = path.isAbsolute(r.spec.cwd) ? r.spec.cwd : path.join(folder, r.spec.cwd);
  ctx.setRelease(ctx.store.setReleaseCode(r.id, folder, source, { ...r.spec, cwd }));
  const git = info.commit ? `, commit ${info.commit.slice(0, 12)}${info.dirty ? ' (with uncommitted changes)' : ''}` : '';
  const linked = info.linked > 0 ? `, ${info.linked} unchanged file(s) linked from the previous release` : '';
  ctx.report('snapshot', 'done', `${info.files} file(s), ${megabytes(info.bytes)}, ${info.hash.slice(0, 19)}${git}${linked}, in ${formatDuration(info.durationMs)}`);
}

/**
 * The newest earlier snapshot of the same folder, to hard-link unchanged files from. Only when zdd does
 * not run as root: snapshot files are read-only, which protects a linked file from in-place writes for
 * anyone but root — as root every file is copied (a reflink where the file system has them).
 */
async function previousSnapshot(ctx: DeployContext, sourceDir: string): Promise<PreviousSnapshot | undefined> {
  if (process.getuid?.() === 0) return undefined;
  const prior = ctx.store
    .releases(ctx.service.name, 20)
    .find((x) => x.id !== ctx.release.id && x.folder !== null && x.prunedAt === null && x.source?.dir === path.resolve(sourceDir) && existsSync(x.folder));
  if (!prior) return undefined;
  const manifest = await loadManifest(manifestFile(prior.folder!));
  return manifest && { dir: prior.folder!, manifest };
}

/** install (unless buildCache reuses an earlier release's output) and build. */
async function build(ctx: DeployContext): Promise<void> {
  const config = ctx.config;
  const folder = ctx.release.folder!;
  let hit = false;
  let key: string | undefined;
  if (config.buildCache) {
    key = cacheKey(folder, config.buildCache.key, [config.install ?? '']);
    const decision = decideCache(key, cacheCandidates(ctx));
    if (decision.reuse) {
      const restored = await restoreCache({ from: decision.from.snapshot, to: folder, paths: config.buildCache.paths });
      hit = restored.outcome === 'restored';
      ctx.report('cache', 'info', describeRestore(restored, decision.from.release));
    } else {
      ctx.report('cache', 'info', `no reuse: ${decision.reason}`);
    }
  }
  const env = { ZDD_BUILD_CACHE: hit ? 'hit' : 'miss' };
  if (config.install && !hit) await hook(ctx, 'install', config.install, folder, env);
  if (config.build) await hook(ctx, 'build', config.build, folder, env);
  // Recorded only once install and build succeeded: a half-finished install is never reused.
  if (key) ctx.store.setBuildKey(ctx.release.id, key);
}

/** Earlier releases, newest first, whose build succeeded and whose folder is still there. */
function cacheCandidates(ctx: DeployContext): CacheSource[] {
  return ctx.store
    .releases(ctx.service.name, 50)
    .filter((x) => x.id !== ctx.release.id && x.buildKey !== null && x.folder !== null && x.prunedAt === null && existsSync(x.folder))
    .map((x) => ({ release: x.number, snapshot: x.folder!, key: x.buildKey! }));
}

async function hook(ctx: DeployContext, name: HookName, command: string, cwd: string, extraEnv: Record<string, string> = {}): Promise<void> {
  const r: Release = ctx.release;
  const logFile = hookLogFile(ctx.dataDir, ctx.service.name, r.number);
  ctx.report(name, 'started', `$ ${command}`);
  const result = await runHook({
    name,
    service: ctx.service.name,
    release: r.number,
    command,
    cwd,
    env: { ...r.spec.env, ...extraEnv },
    logFile,
    timeoutMs: ctx.config.hookTimeout,
    signal: ctx.signal,
    onLine: (line) => ctx.progress(`${name} │ ${line}`),
    scope: scopeOf(ctx.dataDir),
  });
  const summary = summarizeHook(result);
  ctx.store.addReleaseHook(r.id, { hook: name, deployment: ctx.deployment.id, at: result.startedAt, ok: result.outcome === 'ok', outcome: summary, ms: result.durationMs });
  if (result.outcome === 'ok') return ctx.report(name, 'done', summary);
  const failure = new HookFailure(result, ctx.service.name);
  ctx.report(name, 'failed', failure.message);
  throw failure;
}

function megabytes(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
