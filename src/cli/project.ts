import { statSync } from 'node:fs';
import path from 'node:path';

export interface ProjectPaths {
  configPath: string;
  dataDir: string;
}

/**
 * Where a command's project is, found the way git finds its repository: the folder of --config when
 * given; else the nearest folder, from the current one up, holding zdd.yaml or .zdd/; else the current
 * folder (so that `zdd serve` in an empty folder says there is no config there). The state folder is
 * <project>/.zdd unless --data-dir says otherwise.
 */
export function findProject(o: { config?: string; dataDir?: string }, cwd = process.cwd()): ProjectPaths {
  const configPath = o.config === undefined ? undefined : path.resolve(cwd, o.config);
  const root = configPath === undefined ? (nearestProject(cwd) ?? path.resolve(cwd)) : path.dirname(configPath);
  return {
    configPath: configPath ?? path.join(root, 'zdd.yaml'),
    dataDir: o.dataDir === undefined ? path.join(root, '.zdd') : path.resolve(cwd, o.dataDir),
  };
}

function nearestProject(from: string): string | undefined {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (kind(path.join(dir, 'zdd.yaml')) === 'file' || kind(path.join(dir, '.zdd')) === 'dir') return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

function kind(p: string): 'file' | 'dir' | undefined {
  try {
    const st = statSync(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}
