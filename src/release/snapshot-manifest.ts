// What a snapshot holds, entry by entry, and its content hash. The manifest is also what lets the next
// snapshot of the same source hard-link files that did not change (see snapshot-copy.ts).
import { createHash, hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';

/** Stat fields as decimal strings (nanoseconds and inode numbers do not fit a double). */
const storedStat = z.object({ ino: z.string(), size: z.string(), mtimeNs: z.string() });
/** ctime too: no program can set it back, so an unchanged ctime means an unchanged file. */
const sourceStat = storedStat.extend({ ctimeNs: z.string() });

const entry = z.discriminatedUnion('type', [
  z.object({ type: z.literal('dir'), path: z.string() }),
  z.object({ type: z.literal('symlink'), path: z.string(), target: z.string() }),
  z.object({
    type: z.literal('file'),
    path: z.string(),
    exec: z.boolean(),
    size: z.number(),
    sha256: z.string(),
    /** The source file as it was read; null when it came from git (never linked from). */
    source: sourceStat.nullable(),
    /** The snapshot's own file, to notice it was written to since. */
    stored: storedStat,
  }),
]);

const manifest = z.object({
  version: z.literal(1),
  /** When the snapshot started (ns since the epoch): source files changed just before are not trusted by stat. */
  startedAtNs: z.string(),
  entries: z.array(entry),
});

export type StoredStat = z.infer<typeof storedStat>;
export type SourceStat = z.infer<typeof sourceStat>;
export type ManifestEntry = z.infer<typeof entry>;
export type FileEntry = Extract<ManifestEntry, { type: 'file' }>;
export type SnapshotManifest = z.infer<typeof manifest>;

/**
 * `sha256:<hex>` over each entry's type, path, exec bit and content (or symlink target), in path
 * order: the same tree gives the same hash whatever the mtimes, owners or order on disk.
 */
export function treeHash(entries: readonly ManifestEntry[]): string {
  const h = createHash('sha256');
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const e of sorted) {
    const payload = e.type === 'file' ? `${e.exec ? 'x' : '-'}${e.sha256}` : e.type === 'symlink' ? e.target : '';
    h.update(`${e.type}\0${e.path}\0${payload}\0`);
  }
  return `sha256:${h.digest('hex')}`;
}

/** Files up to this size are hashed in one read; larger ones streamed. */
const wholeReadLimit = 1 << 20;

export async function hashFile(file: string, size: number): Promise<string> {
  if (size <= wholeReadLimit) return hash('sha256', await readFile(file), 'hex');
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Written to a temporary file and renamed, so a reader sees the old manifest or the new one. */
export async function saveManifest(file: string, m: SnapshotManifest): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(m));
  await rename(tmp, file);
}

/** The manifest saved at `file`, or undefined when there is none or it cannot be read: the next snapshot is then a full copy. */
export async function loadManifest(file: string): Promise<SnapshotManifest | undefined> {
  try {
    return manifest.parse(JSON.parse(await readFile(file, 'utf8')));
  } catch {
    return undefined;
  }
}
