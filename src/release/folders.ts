import path from 'node:path';

// Where a service's releases keep their code and data in the data dir:
//   releases/<service>/<number>/   each release's own folder (its snapshot of `source`)
//   shared/<service>/<path>        what `shared` keeps across releases, linked into each folder
//   logs/<service>/hooks-r<n>.log  what release n's build, release phase and smoke test printed

export function releaseFolder(dataDir: string, service: string, number: number): string {
  return path.join(dataDir, 'releases', service, String(number));
}

export function sharedFolder(dataDir: string, service: string): string {
  return path.join(dataDir, 'shared', service);
}

export function hookLogFile(dataDir: string, service: string, number: number): string {
  return path.join(dataDir, 'logs', service, `hooks-r${number}.log`);
}
