// What `zdd init` writes: a guess at how the app in a folder starts, and a commented zdd.yaml around it.
// Both are pure (the folder comes in as two functions), so they are tested with plain values.

export interface Folder {
  /** A file's text, undefined when there is none. */
  read(name: string): string | undefined;
  has(name: string): boolean;
}

export interface AppGuess {
  kind: 'Node' | 'Python' | 'unknown';
  /** The command line of one instance; it makes the app listen on $PORT (and $HOST) or says how to. */
  command: string;
  /** Where the guess comes from, e.g. 'package.json scripts.start'. */
  from: string;
  /** Lines for the config's comments: what the user must still check. */
  notes: string[];
  env: Record<string, string>;
}

export function detectApp(folder: Folder): AppGuess {
  return detectNode(folder) ?? detectPython(folder) ?? {
    kind: 'unknown',
    command: './start.sh',
    from: 'nothing zdd recognises (no package.json, no Python app)',
    notes: ["replace ./start.sh with your app's command line; it must listen on $PORT and $HOST"],
    env: {},
  };
}

function detectNode(folder: Folder): AppGuess | undefined {
  const text = folder.read('package.json');
  if (text === undefined) return undefined;
  let pkg: { scripts?: { start?: unknown }; main?: unknown } = {};
  try {
    pkg = JSON.parse(text) as typeof pkg;
  } catch {
    // An unreadable package.json still says Node: npm start is the best guess.
  }
  const listen = 'the app must listen on process.env.PORT and process.env.HOST, e.g. server.listen(process.env.PORT, process.env.HOST)';
  const node = (command: string, from: string, notes: string[] = []): AppGuess => ({ kind: 'Node', command, from, notes: [...notes, listen], env: { NODE_ENV: 'production' } });
  const start = typeof pkg.scripts?.start === 'string' ? pkg.scripts.start.trim() : undefined;
  // `node file.js` runs as it is: the app itself gets zdd's signals, no npm in between.
  if (start && /^node\s+[^;&|<>()$`\\]+$/.test(start)) return node(start, `package.json scripts.start: ${start}`);
  if (start) return node('npm start', `package.json scripts.start: ${start}`, ['npm runs scripts.start; zdd stops npm and everything it started together']);
  if (typeof pkg.main === 'string' && pkg.main) return node(`node ${pkg.main}`, `package.json main: ${pkg.main}`);
  for (const file of ['server.js', 'index.js', 'app.js']) if (folder.has(file)) return node(`node ${file}`, file);
  return node('npm start', 'package.json', ['package.json has no start script or main: add one, or write the command here']);
}

function detectPython(folder: Folder): AppGuess | undefined {
  const deps = `${folder.read('requirements.txt') ?? ''}\n${folder.read('pyproject.toml') ?? ''}`.toLowerCase();
  const files = ['main.py', 'app.py', 'wsgi.py', 'asgi.py'].filter((f) => folder.has(f));
  const mentions = (lib: string) => new RegExp(`(^|[^a-z0-9_-])${lib}([^a-z0-9_-]|$)`, 'm').test(deps);
  const asgi = mentions('uvicorn') || mentions('fastapi') || mentions('starlette') || (files.includes('asgi.py') && !files.includes('wsgi.py'));
  const wsgi = mentions('gunicorn') || mentions('flask') || mentions('django') || files.includes('wsgi.py');
  if (files.length === 0 && !asgi && !wsgi) return undefined;
  // A virtualenv in the folder holds the servers; otherwise they must be on PATH.
  const venv = ['.venv', 'venv'].find((d) => folder.has(`${d}/bin/python`));
  const bin = (name: string) => (venv ? `${venv}/bin/${name}` : name);
  const from = [...files, ...(deps.trim() ? ['requirements.txt / pyproject.toml'] : [])].join(', ');
  const env = { PYTHONUNBUFFERED: '1' };
  const need = (server: string) => (mentions(server) ? [] : [`needs ${server} where the app runs (pip install ${server})`]);
  if (asgi) {
    const target = pick(files, { 'main.py': 'main:app', 'app.py': 'app:app', 'asgi.py': 'asgi:application' }) ?? 'main:app';
    return { kind: 'Python', command: `${bin('uvicorn')} ${target} --host $HOST --port $PORT`, from, notes: [`an ASGI app served by uvicorn; ${target} is module:variable`, ...need('uvicorn')], env };
  }
  if (wsgi) {
    const target = pick(files, { 'wsgi.py': 'wsgi:application', 'app.py': 'app:app', 'main.py': 'main:app' }) ?? 'app:app';
    return { kind: 'Python', command: `${bin('gunicorn')} --bind $HOST:$PORT ${target}`, from, notes: [`a WSGI app served by gunicorn; ${target} is module:variable`, ...need('gunicorn')], env };
  }
  const file = files[0]!;
  return { kind: 'Python', command: `${bin('python3')} ${file}`, from, notes: ['the app must listen on os.environ["PORT"] and os.environ["HOST"]'], env };
}

/** A command as YAML: plain when it reads back the same, else double-quoted (JSON's quoting is YAML's). */
function scalar(text: string): string {
  return /^[\w.\/$-][^#'"{}[\],&*!|>%@`]*$/.test(text) && !/:\s|\s$/.test(text) ? text : JSON.stringify(text);
}

function pick(files: string[], targets: Record<string, string>): string | undefined {
  const file = Object.keys(targets).find((f) => files.includes(f));
  return file === undefined ? undefined : targets[file];
}

/** The zdd.yaml for one service named `service`; every key written is valid today, the rest are comments. */
export function renderConfig(app: AppGuess, o: { service: string; listen: string }): string {
  const env = Object.entries(app.env);
  const steps = {
    Node: { install: 'npm ci', build: 'npm run build', key: 'package-lock.json', paths: 'node_modules' },
    Python: { install: 'pip install -r requirements.txt', build: './build.sh', key: 'requirements.txt', paths: '.venv' },
    unknown: { install: './install.sh', build: './build.sh', key: 'your.lock', paths: 'deps' },
  }[app.kind];
  // A value and its comment, the comments in one column.
  const c = (text: string, comment: string) => `    ${text.padEnd(30)} # ${comment}`;
  const next = (command: string, what: string) => `#   ${command.padEnd(22)} ${what}`;
  return [
    `# zdd.yaml, written by \`zdd init\` for ${app.kind === 'unknown' ? 'an app it could not recognise' : `a ${app.kind} app`} (from ${app.from}).`,
    `# Every key is in the README's "Config reference". Durations: 200ms, 1s, 2m.`,
    `#`,
    `# Next:`,
    next('zdd serve', 'run the daemon here (or in a folder below); Ctrl-C or zdd stop drains and stops it'),
    next(`zdd deploy ${o.service}`, "in another terminal: start a release of the app behind zdd's proxy"),
    next('zdd status', `then: zdd logs ${o.service} -f, zdd history ${o.service}, zdd rollback ${o.service}`),
    ``,
    `services:`,
    `  ${o.service}:`,
    `    # Where zdd's proxy accepts this service's traffic: users connect here, never to an instance.`,
    `    listen: ${scalar(o.listen)}`,
    `    # One instance of the app. zdd gives each instance a free port in $PORT (and $HOST, 127.0.0.1):`,
    ...app.notes.map((n) => `    # ${n}.`),
    `    command: ${scalar(app.command)}`,
    c('# cwd: .', 'working directory, relative to this file (default: this folder)'),
    `    env:${env.length === 0 ? ' {}' : env.map(([k, v]) => `\n      ${k}: ${JSON.stringify(v)}`).join('')}`,
    c('replicas: 1', 'instances per release'),
    `    health:`,
    c('  # path: /healthz', 'a path answering 2xx once the app is ready; without one, zdd waits for the port'),
    c('  interval: 1s', 'time between checks'),
    c('  startTimeout: 30s', 'how long a new instance may take to become healthy before the deploy fails'),
    c('strategy: blue-green', 'or rolling, or canary with steps (see the README)'),
    c('drainTimeout: 30s', 'how long requests in flight on the old release may take to finish'),
    c('stopTimeout: 10s', 'a stopping instance gets SIGTERM, and SIGKILL this long after'),
    c('# logs: { maxSize: 10MB, keep: 3 }', 'the default: each instance log rotates past maxSize, keep files in all'),
    `    #`,
    `    # Releases built from a snapshot of this folder (see the README for what your zdd supports):`,
    c('# source: .', 'each release runs from its own snapshot of this folder'),
    c(`# install: ${steps.install}`, 'dependencies, in each new snapshot'),
    c(`# build: ${steps.build}`, 'then this, before any instance starts'),
    `    # buildCache: { key: [${steps.key}], paths: [${steps.paths}] }   # reuse the last install while the key files are unchanged`,
    c('# release: ./migrate', 'once per deploy, before the release gets traffic'),
    c('# smoke: ./smoke-test', 'against the new, healthy release before traffic moves ($ZDD_SMOKE_URL)'),
    c('# shared: [uploads]', 'paths kept across releases, linked into each'),
    c('# keepReleases: 5', 'release folders kept'),
    c('# envFile: .env', 'read at each deploy; recorded with the release'),
    ``,
  ].join('\n');
}
