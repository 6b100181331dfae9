import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { signalAll } from './proc-scan.ts';

// cgroup v2 from the outside: where the hierarchy is, whether this process may make cgroups in it, and
// the few operations an instance's cgroup needs (make, list, kill, remove).

export interface Cgroup2Mount {
  /** The cgroup path the mount shows at its mount point (`/` unless a namespace or bind mount says otherwise). */
  root: string;
  mountPoint: string;
}

/** The cgroup v2 mount in /proc/self/mountinfo text (pure v2: /sys/fs/cgroup; hybrid: often /sys/fs/cgroup/unified). Pure. */
export function cgroup2Mount(mountinfo: string): Cgroup2Mount | undefined {
  for (const line of mountinfo.split('\n')) {
    const [mount, source] = line.split(' - ');
    if (source?.split(' ')[0] !== 'cgroup2') continue;
    const fields = mount!.split(' ');
    if (fields[3] && fields[4]) return { root: unescapeMountField(fields[3]), mountPoint: unescapeMountField(fields[4]) };
  }
  return undefined;
}

/** A process's cgroup v2 path from its /proc/<pid>/cgroup text (the `0::` line). Pure. */
export function cgroup2Path(procCgroup: string): string | undefined {
  const line = procCgroup.split('\n').find((l) => l.startsWith('0::'));
  return line?.slice(3) || undefined;
}

/** Where a cgroup path is in the file system, if this mount shows it. Pure. */
export function cgroupDir(mount: Cgroup2Mount, cgroupPath: string): string | undefined {
  if (mount.root === '/') return path.resolve(mount.mountPoint, `.${cgroupPath}`);
  if (cgroupPath === mount.root || cgroupPath.startsWith(`${mount.root}/`)) return path.resolve(mount.mountPoint, `.${cgroupPath.slice(mount.root.length)}`);
  return undefined;
}

/** The directory of a process's cgroup v2, if the machine has one and the process is there to ask. */
export function cgroupDirOf(pid: number | 'self'): string | undefined {
  try {
    const mount = cgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8'));
    const cgroupPath = cgroup2Path(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    return mount && cgroupPath ? cgroupDir(mount, cgroupPath) : undefined;
  } catch {
    return undefined;
  }
}

let parent: string | null | undefined;

/**
 * The cgroup instance cgroups are made in: this process's own, the one a service manager delegates
 * (systemd: Delegate=yes). Undefined where that cannot work: no cgroup v2, not writable, or ZDD_CGROUPS=off.
 * Found out once per process, by making and removing a probe cgroup.
 */
export function instanceCgroupParent(): string | undefined {
  parent ??= process.platform === 'linux' && process.env.ZDD_CGROUPS !== 'off' ? probe(cgroupDirOf('self')) : null;
  return parent ?? undefined;
}

function probe(dir: string | undefined): string | null {
  if (!dir) return null;
  const probeDir = path.join(dir, `zdd-probe-${process.pid}`);
  try {
    mkdirSync(probeDir);
  } catch {
    return null;
  }
  let ok = true;
  try {
    // Moving a process between cgroups takes write access to both and to their common ancestor (ours).
    accessSync(path.join(dir, 'cgroup.procs'), constants.W_OK);
    accessSync(path.join(probeDir, 'cgroup.procs'), constants.W_OK);
  } catch {
    ok = false;
  }
  try {
    rmdirSync(probeDir);
  } catch {
    ok = false;
  }
  return ok ? dir : null;
}

/** Make a cgroup (one left over under the same name is reused: whatever is in it belongs to the same instance). */
export function makeCgroup(parentDir: string, name: string): string | undefined {
  const dir = path.join(parentDir, name);
  try {
    mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
  }
  return dir;
}

/** The processes in a cgroup (an exited process leaves it at once, before it is reaped). */
export function cgroupPids(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'latin1').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Whether any process is left in a cgroup or the cgroups below it (made by a privileged app). */
export function cgroupPopulated(dir: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(path.join(dir, 'cgroup.events'), 'latin1'));
  } catch {
    return false;
  }
}

/**
 * SIGKILL everything in a cgroup. cgroup.kill (Linux 5.14+) does it in one step that a process forking
 * cannot outrun; before that, a few rounds of signalling each member, which a fork loop could outrun.
 */
export function killCgroup(dir: string): void {
  const kill = path.join(dir, 'cgroup.kill');
  if (existsSync(kill)) {
    try {
      writeFileSync(kill, '1');
      return;
    } catch {
      // Fall through to signalling each member.
    }
  }
  for (let round = 0; round < 3; round++) {
    const pids = cgroupPids(dir);
    if (pids.length === 0) return;
    signalAll(pids, 'SIGKILL');
  }
}

/** Remove an empty cgroup; true once it is gone (a process still exiting keeps it busy for a moment). */
export function removeCgroup(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** Cgroups directly under parentDir whose name starts with prefix. */
export function cgroupsNamed(parentDir: string, prefix: string): string[] {
  try {
    return readdirSync(parentDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name.startsWith(prefix))
      .map((e) => path.join(parentDir, e.name));
  } catch {
    return [];
  }
}

/** mountinfo writes space, tab, newline and backslash as octal escapes. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
