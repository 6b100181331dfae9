import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig, parseConfig, type ConfigIssue, type ServiceConfig } from '../../src/config/load.ts';
import { ZddError } from '../../src/errors.ts';

const file = '/srv/project/zdd.yaml';

const minimal = `services:
  web:
    listen: 127.0.0.1:8080
    command: node server.js
`;

/** The config of service web, from `lines` appended to the minimal config's service. */
function web(extra = ''): ServiceConfig {
  return parseConfig(minimal + extra, file).services.get('web')!;
}

/** The issues parseConfig reports for `text`. */
function issues(text: string): ConfigIssue[] {
  try {
    parseConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.equal(err.file, file);
    return err.issues;
  }
  assert.fail('the config was accepted');
}

function issueAt(list: ConfigIssue[], key: string): ConfigIssue {
  const found = list.find((i) => i.key === key);
  assert.ok(found, `an issue for ${key} in ${JSON.stringify(list)}`);
  return found;
}

describe('a valid minimal config', () => {
  it('gets the documented defaults', () => {
    const config = parseConfig(minimal, file);
    assert.equal(config.file, file);
    assert.deepEqual([...config.services.keys()], ['web']);
    assert.deepEqual(config.services.get('web'), {
      name: 'web',
      listen: { host: '127.0.0.1', port: 8080 },
      hosts: [],
      paths: [],
      stripPrefix: false,
      command: 'node server.js',
      cwd: '/srv/project',
      env: {},
      replicas: 1,
      health: { interval: 1000, timeout: 2000, startTimeout: 30_000, healthyThreshold: 1, unhealthyThreshold: 3 },
      strategy: { type: 'blue-green', rollbackWindow: 30_000 },
      drainTimeout: 30_000,
      stopTimeout: 10_000,
      hookTimeout: 600_000,
      shared: [],
      keepReleases: 5,
      proxy: {
        timeout: 60_000,
        connections: 128,
        queueTimeout: 10_000,
        holdTimeout: 5_000,
        headerTimeout: 10_000,
        bodyIdleTimeout: 30_000,
        bodyTimeout: 300_000,
        sendTimeout: 60_000,
        maxConnectionsPerClient: 512,
        trustedNetworks: ['127.0.0.0/8', '::1/128'],
        workers: 'auto',
      },
    });
  });

  it('keeps several services apart, each with its own settings', () => {
    const config = parseConfig(
      `services:
  web:
    listen: 8080
    command: node web.js
    replicas: 3
  api:
    listen: ":9090"
    command: [node, api.js, --verbose]
`,
      file,
    );
    assert.equal(config.services.get('web')!.replicas, 3);
    assert.deepEqual(config.services.get('api')!.listen, { host: '0.0.0.0', port: 9090 });
    assert.deepEqual(config.services.get('api')!.command, ['node', 'api.js', '--verbose']);
    assert.equal(config.services.get('api')!.replicas, 1);
  });

  it('converts every duration to milliseconds', () => {
    const s = web(`    health: { path: /healthz, interval: 200ms, timeout: 1.5s, startTimeout: 1m30s }
    drainTimeout: 2m
    stopTimeout: 1s
    proxy: { timeout: 45s, connections: 8 }
`);
    assert.deepEqual(s.health, { path: '/healthz', interval: 200, timeout: 1500, startTimeout: 90_000, healthyThreshold: 1, unhealthyThreshold: 3 });
    assert.equal(s.drainTimeout, 120_000);
    assert.equal(s.stopTimeout, 1000);
    assert.deepEqual([s.proxy.timeout, s.proxy.connections], [45_000, 8]);
  });
});

describe('durations in the config', () => {
  for (const bad of ['"5"', 'fast', '1x', '5']) {
    it(`rejects drainTimeout: ${bad}, naming the key and line`, () => {
      const list = issues(minimal + `    drainTimeout: ${bad}\n`);
      const issue = issueAt(list, 'services.web.drainTimeout');
      assert.equal(issue.line, 5);
      assert.match(issue.message, /duration|200ms/);
    });
  }

  it('rejects durations of 2^31 ms or more (Node timers overflow) and accepts the documented maximum', () => {
    for (const [key, yaml] of [
      ['services.web.stopTimeout', '    stopTimeout: 600h\n'],
      ['services.web.drainTimeout', '    drainTimeout: 1000000000000h\n'],
      ['services.web.strategy.rollbackWindow', '    strategy: { type: blue-green, rollbackWindow: 577h }\n'],
      ['services.web.health.interval', '    health: { interval: 2147483648ms }\n'],
    ] as const) {
      const issue = issueAt(issues(minimal + yaml), key);
      assert.equal(issue.line, 5);
      assert.match(issue.message, /longer than the longest duration zdd accepts, 576h \(24 days\)/);
    }
    assert.equal(web('    stopTimeout: 576h\n').stopTimeout, 576 * 3_600_000);
  });

  it('rejects a zero interval', () => {
    const issue = issueAt(issues(minimal + '    health: { interval: 0s }\n'), 'services.web.health.interval');
    assert.match(issue.message, /longer than 0ms/);
  });
});

describe('unknown keys', () => {
  it('names the key path and line, with "did you mean" for a near miss of a service or health key', () => {
    const list = issues(`services:
  web:
    listen: 8080
    command: node app.js
    replica: 2
    health:
      intervall: 1s
      bogus: 1
`);
    const replica = issueAt(list, 'services.web.replica');
    assert.equal(replica.line, 5);
    assert.match(replica.message, /unknown key "replica"/);
    assert.match(replica.message, /did you mean "replicas"\?/);
    const interval = issueAt(list, 'services.web.health.intervall');
    assert.equal(interval.line, 7);
    assert.match(interval.message, /did you mean "interval"\?/);
    const bogus = issueAt(list, 'services.web.health.bogus');
    assert.equal(bogus.line, 8);
    assert.doesNotMatch(bogus.message, /did you mean/, 'no suggestion for a key that resembles nothing');
  });

  it('suggests keys regardless of case and dashes (drain-timeout → drainTimeout)', () => {
    const issue = issueAt(issues(minimal + '    drain-timeout: 5s\n'), 'services.web.drain-timeout');
    assert.match(issue.message, /did you mean "drainTimeout"\?/);
  });

  it('suggests near misses in every section: top level, strategy, proxy and analysis', () => {
    const list = issues(`services:
  web:
    listen: 8080
    command: node app.js
    strategy:
      type: canary
      steps: [{ weight: 10, pasue: 1m }]
      analysis: { minRequest: 100 }
    proxy: { timout: 5s }
servics: {}
`);
    assert.match(issueAt(list, 'services.web.strategy.steps.0.pasue').message, /did you mean "pause"\?/);
    assert.match(issueAt(list, 'services.web.strategy.analysis.minRequest').message, /did you mean "minRequests"\?/);
    assert.match(issueAt(list, 'services.web.proxy.timout').message, /did you mean "timeout"\?/);
    assert.match(issueAt(list, 'servics').message, /did you mean "services"\?/);
  });

  it('puts the file, line and key in the error message and sorts issues by line', () => {
    try {
      parseConfig(minimal + '    zz: 1\n    health: { intervall: 1s }\n    replicas: many\n', file);
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => i.line),
        [5, 6, 7],
      );
      assert.match(err.message, /zdd\.yaml:5: services\.web\.zz: unknown key "zz"/);
      assert.match(err.message, /zdd\.yaml:7: services\.web\.replicas: /);
      assert.ok(err instanceof ZddError);
      assert.match(err.hint ?? '', /zdd\.yaml/);
    }
  });
});

describe('wrong types and values', () => {
  it('names the key and line of a value of the wrong type', () => {
    const list = issues(minimal + '    replicas: two\n    env: [A, B]\n');
    const replicas = issueAt(list, 'services.web.replicas');
    assert.equal(replicas.line, 5);
    assert.match(replicas.message, /expected number, got "two"/);
    assert.equal(issueAt(list, 'services.web.env').line, 6);
  });

  it('reports a missing required key at its parent', () => {
    const issue = issueAt(issues('services:\n  web:\n    listen: 8080\n'), 'services.web.command');
    assert.equal(issue.message, 'is required');
    assert.ok(issue.line === 2 || issue.line === 3, `line ${issue.line}: at "web:" or where its settings start`);
  });

  it('rejects out-of-range numbers with the key and line', () => {
    assert.equal(issueAt(issues(minimal + '    replicas: 0\n'), 'services.web.replicas').line, 5);
    const weight = issueAt(issues(minimal + '    strategy:\n      type: canary\n      steps:\n        - weight: 5\n        - weight: 150\n'), 'services.web.strategy.steps.1.weight');
    assert.equal(weight.line, 9);
  });

  it('rejects a bad listen address and a health path without a leading slash', () => {
    assert.match(issueAt(issues(minimal.replace('127.0.0.1:8080', '"host:99999"')), 'services.web.listen').message, /not an address/);
    assert.match(issueAt(issues(minimal + '    health: { path: healthz }\n'), 'services.web.health.path').message, /must start with \//);
  });

  it('explains a bad service name, at the line of the name', () => {
    const issue = issueAt(issues('services:\n  Web:\n    listen: 8080\n    command: x\n'), 'services.Web');
    assert.equal(issue.line, 2);
    assert.match(issue.message, /lowercase/);
  });

  it('explains a bad env name', () => {
    const issue = issueAt(issues(minimal + '    env:\n      1A: x\n'), 'services.web.env.1A');
    assert.equal(issue.line, 6);
    assert.match(issue.message, /letters, digits and _/);
  });

  it('rejects env values that are not scalars', () => {
    const list = issues(minimal + '    env:\n      EMPTY:\n      NESTED: { a: 1 }\n');
    assert.match(issueAt(list, 'services.web.env.EMPTY').message, /strings, numbers or booleans/);
    assert.match(issueAt(list, 'services.web.env.NESTED').message, /strings, numbers or booleans/);
  });

  it('reports a config without services', () => {
    assert.equal(issueAt(issues(''), 'services').message, 'is required');
    assert.ok(issueAt(issues('services: []\n'), 'services'));
  });
});

describe('YAML syntax errors', () => {
  it('reports the line of a syntax error', () => {
    const list = issues('services:\n  web:\n    listen: 8080\n    command: [unclosed\n    replicas: 2\n');
    assert.ok(list.length > 0);
    for (const i of list) assert.equal(typeof i.line, 'number', `a line for "${i.message}"`);
    assert.ok(list.some((i) => i.line! >= 4), JSON.stringify(list));
  });

  it('reports the line of a duplicate key', () => {
    const list = issues('services:\n  web:\n    listen: 8080\n    listen: 8081\n    command: x\n');
    assert.match(list[0]!.message, /unique/);
    assert.equal(list[0]!.line, 4);
  });
});

describe('strategy', () => {
  it('accepts a strategy written as a bare name', () => {
    assert.deepEqual(web('    strategy: blue-green\n').strategy, { type: 'blue-green', rollbackWindow: 30_000 });
    assert.deepEqual(web('    strategy: rolling\n').strategy, { type: 'rolling', maxSurge: 1, maxUnavailable: 0, onFailure: 'revert' });
  });

  it('accepts a strategy written as an object with settings', () => {
    assert.deepEqual(web('    strategy: { type: blue-green, rollbackWindow: 0s }\n').strategy, { type: 'blue-green', rollbackWindow: 0 });
  });

  it('reads canary steps with pauses and fills in the analysis defaults', () => {
    const s = web(`    strategy:
      type: canary
      steps:
        - weight: 5
          pause: 30s
        - weight: 50
      analysis: { maxErrorRateIncrease: 2%, maxErrorRate: 0.05, maxP99: 800ms }
`).strategy;
    assert.equal(s.type, 'canary');
    if (s.type !== 'canary') return;
    assert.deepEqual(s.steps, [{ weight: 5, pause: 30_000 }, { weight: 50 }]);
    assert.equal(s.retryOnStable, true);
    assert.equal(s.analysis.maxErrorRateIncrease, 0.02);
    assert.equal(s.analysis.maxErrorRate, 0.05);
    assert.equal(s.analysis.maxP99, 800);
    assert.equal(s.analysis.alpha, 0.01);
    assert.equal(s.analysis.minRequests, 100);
    assert.equal(s.analysis.deadline, 120_000);
    assert.equal(s.analysis.interval, 250);
  });

  it('requires at least one canary step', () => {
    assert.match(issueAt(issues(minimal + '    strategy: { type: canary, steps: [] }\n'), 'services.web.strategy.steps').message, /at least one step/);
    assert.equal(issueAt(issues(minimal + '    strategy: canary\n'), 'services.web.strategy.steps').message, 'is required');
  });

  it('rejects a share above 100%', () => {
    const issue = issueAt(issues(minimal + '    strategy: { type: canary, steps: [{ weight: 10 }], analysis: { maxErrorRate: 150% } }\n'), 'services.web.strategy.analysis.maxErrorRate');
    assert.match(issue.message, /not a share/);
  });

  it('rejects canary weights that fall, and a step of 0% or 100%, naming the step and line', () => {
    const falling = issues(minimal + '    strategy:\n      type: canary\n      steps:\n        - { weight: 50 }\n        - { weight: 20 }\n');
    const issue = issueAt(falling, 'services.web.strategy.steps.1.weight');
    assert.equal(issue.line, 9);
    assert.match(issue.message, /20 is lower than the step before \(50\)/);
    assert.match(issueAt(issues(minimal + '    strategy: { type: canary, steps: [{ weight: 20 }, { weight: 100 }] }\n'), 'services.web.strategy.steps.1.weight').message, /less than 100/);
    assert.match(issueAt(issues(minimal + '    strategy: { type: canary, steps: [{ weight: 0 }] }\n'), 'services.web.strategy.steps.0.weight').message, /more than 0/);
  });

  it('accepts a weight held over two steps (a timed hold, then a wait for promotion)', () => {
    const s = web('    strategy: { type: canary, steps: [{ weight: 20, pause: 1m }, { weight: 20 }, { weight: 99.5 }] }\n').strategy;
    assert.equal(s.type === 'canary' && s.steps.length, 3);
  });

  it('reads rolling maxSurge as a percentage or a count', () => {
    const s = web('    strategy: { type: rolling, maxSurge: 25%, maxUnavailable: 1, onFailure: pause }\n').strategy;
    assert.deepEqual(s, { type: 'rolling', maxSurge: '25%', maxUnavailable: 1, onFailure: 'pause' });
    assert.match(issueAt(issues(minimal + '    strategy: { type: rolling, maxSurge: lots }\n'), 'services.web.strategy.maxSurge').message, /25%/);
  });

  it('lists the strategies for an unknown one, whether written as an object or a bare name', () => {
    const asObject = issueAt(issues(minimal + '    strategy: { type: purple }\n'), 'services.web.strategy.type');
    assert.match(asObject.message, /blue-green, canary, rolling/);
    const asName = issues(minimal + '    strategy: purple\n');
    assert.equal(asName.length, 1);
    assert.equal(asName[0]!.line, 5);
    assert.match(asName[0]!.message, /blue-green, canary, rolling/);
  });
});

describe('listen addresses', () => {
  it('rejects two services without hosts on one address, naming both services and lines', () => {
    const list = issues(`services:
  api:
    listen: 127.0.0.1:8080
    command: node api.js
  web:
    listen: 127.0.0.1:8080
    command: node web.js
`);
    const issue = issueAt(list, 'services.web.listen');
    assert.equal(issue.line, 6);
    assert.equal(
      issue.message,
      '127.0.0.1:8080 is also services.api.listen (line 3), and neither services.api nor services.web has hosts: only one service on a shared address may go without hosts (the default); give one of them hosts',
    );
  });

  it('sees that all interfaces (":8080") and localhost overlap a specific address on the same port: share only the identical address', () => {
    const two = (a: string, b: string) => `services:\n  api:\n    listen: "${a}"\n    command: x\n    hosts: [a.test]\n  web:\n    listen: "${b}"\n    command: x\n`;
    const issue = issueAt(issues(two(':8080', '127.0.0.1:8080')), 'services.web.listen');
    assert.equal(issue.line, 7);
    assert.match(issue.message, /^127\.0\.0\.1:8080 overlaps services\.api\.listen \(0\.0\.0\.0:8080, line 3\): .*identical address; write 0\.0\.0\.0:8080 for both/);
    assert.match(issueAt(issues(two('[::1]:8080', 'localhost:8080')), 'services.web.listen').message, /overlaps services\.api\.listen \(\[::1\]:8080, line 3\)/);
    assert.match(issueAt(issues(two(':8080', '[::]:8080')), 'services.web.listen').message, /overlaps services\.api\.listen/);
    assert.equal(parseConfig(two('127.0.0.1:8080', '127.0.0.1:8081'), file).services.size, 2);
    assert.equal(parseConfig(two('127.0.0.1:8080', '127.0.0.2:8080'), file).services.size, 2);
    assert.equal(parseConfig(two(':8080', ':8080'), file).services.size, 2, 'the identical address, one service with hosts: shared');
  });
});

describe('proxy limits and trusted networks', () => {
  it('reads timeouts, limits and networks (CIDR or single address)', () => {
    const p = web('    proxy: { queueTimeout: 2s, holdTimeout: 0s, headerTimeout: 5s, bodyIdleTimeout: 1s, bodyTimeout: 1m, sendTimeout: 20s, maxConnectionsPerClient: 64, trustedNetworks: [10.0.0.0/8, "fd00::/8", 192.0.2.7] }\n').proxy;
    assert.deepEqual(p.trustedNetworks, ['10.0.0.0/8', 'fd00::/8', '192.0.2.7/32']);
    assert.equal(p.holdTimeout, 0, 'holdTimeout 0s: no holding');
    assert.deepEqual([p.queueTimeout, p.headerTimeout, p.bodyIdleTimeout, p.bodyTimeout, p.sendTimeout, p.maxConnectionsPerClient], [2000, 5000, 1000, 60_000, 20_000, 64]);
    assert.deepEqual(web('    proxy: { trustedNetworks: [] }\n').proxy.trustedNetworks, []);
  });

  it('rejects a network that is not one, naming the entry', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0/8']) {
      const issue = issueAt(issues(minimal + `    proxy: { trustedNetworks: ["${bad}"] }\n`), 'services.web.proxy.trustedNetworks.0');
      assert.match(issue.message, /is not a network/);
    }
  });
});

describe('top-level proxy: defaults for every service', () => {
  const two = (top: string, apiProxy = ''): string =>
    `${top}services:\n  web:\n    listen: 127.0.0.1:8080\n    command: node server.js\n  api:\n    listen: 127.0.0.1:8081\n    command: node api.js\n${apiProxy}`;

  it('gives each service the keys it does not write itself; a service’s own keys win', () => {
    const c = parseConfig(two('proxy: { workers: 2, holdTimeout: 8s, timeout: 20s }\n', '    proxy: { timeout: 5s }\n'), file);
    const [web, api] = [c.services.get('web')!.proxy, c.services.get('api')!.proxy];
    assert.deepEqual([web.workers, web.holdTimeout, web.timeout], [2, 8_000, 20_000]);
    assert.deepEqual([api.workers, api.holdTimeout, api.timeout], [2, 8_000, 5_000]);
    // What neither writes keeps the built-in default.
    assert.equal(web.queueTimeout, 10_000);
  });

  it('reports a mistake in it once, at its own key and line', () => {
    const list = issues(two('proxy:\n  workers: many\n'));
    assert.deepEqual(list.map((i) => [i.key, i.line]), [['proxy.workers', 2]]);
    assert.match(issueAt(issues(two('proxy: { holdTimeot: 1s }\n')), 'proxy.holdTimeot').message, /did you mean "holdTimeout"\?/);
  });

  it('points a check on an inherited key at the top-level line', () => {
    const text = `proxy:\n  workers: 2\nservices:\n  web:\n    listen: ":443"\n    tls: { cert: c.pem, key: k.pem }\n    command: node server.js\n`;
    const issue = issueAt(issues(text), 'services.web.proxy.workers');
    assert.equal(issue.line, 2);
    assert.match(issue.message, /TLS address/);
  });
});

describe('releases with a source folder', () => {
  it('resolves source and envFile against zdd.yaml, and keeps cwd relative to the release folder', () => {
    const s = web('    source: ./app\n    cwd: backend\n    envFile: .env.production\n    build: npm ci\n    release: npm run migrate\n    smoke: curl -fsS $ZDD_SMOKE_URL/healthz\n    shared: [uploads, db/app.sqlite]\n    keepReleases: 3\n    buildCache: { key: [package-lock.json], paths: [node_modules] }\n');
    assert.equal(s.source, '/srv/project/app');
    assert.equal(s.envFile, '/srv/project/.env.production');
    assert.equal(s.cwd, 'backend');
    assert.deepEqual([s.build, s.release, s.smoke, s.keepReleases, s.hookTimeout], ['npm ci', 'npm run migrate', 'curl -fsS $ZDD_SMOKE_URL/healthz', 3, 600_000]);
    assert.deepEqual(s.shared, ['uploads', 'db/app.sqlite']);
    assert.deepEqual(s.buildCache, { key: ['package-lock.json'], paths: ['node_modules'] });
    assert.equal(web('    source: .\n').cwd, '.');
  });

  it('refuses build, buildCache and shared without source, naming each key and line', () => {
    const list = issues(minimal + '    build: npm ci\n    shared: [uploads]\n    buildCache: { key: [package-lock.json], paths: [node_modules] }\n');
    for (const [key, line] of [['services.web.build', 5], ['services.web.shared', 6], ['services.web.buildCache', 7]] as const) {
      const issue = issueAt(list, key);
      assert.equal(issue.line, line);
      assert.match(issue.message, /needs source/);
    }
  });

  it('refuses paths that leave the release folder (shared, cwd with source)', () => {
    assert.match(issueAt(issues(minimal + '    source: .\n    shared: [../elsewhere]\n'), 'services.web.shared.0').message, /inside the source folder/);
    assert.match(issueAt(issues(minimal + '    source: .\n    shared: [/var/data]\n'), 'services.web.shared.0').message, /inside the source folder/);
    assert.match(issueAt(issues(minimal + '    source: .\n    cwd: ../up\n'), 'services.web.cwd').message, /folder inside the release/);
  });
});

describe('env and cwd', () => {
  it('coerces env values to strings', () => {
    const s = web('    env: { PORT_HINT: 3000, DEBUG: true, OFF: false, NAME: app, RATIO: 0.25 }\n');
    assert.deepEqual(s.env, { PORT_HINT: '3000', DEBUG: 'true', OFF: 'false', NAME: 'app', RATIO: '0.25' });
  });

  it('resolves a relative cwd against the folder of the config file and keeps an absolute one', () => {
    assert.equal(web('    cwd: ./app\n').cwd, '/srv/project/app');
    assert.equal(web('    cwd: ../shared/app\n').cwd, '/srv/shared/app');
    assert.equal(web('    cwd: /opt/app\n').cwd, '/opt/app');
    assert.equal(web().cwd, '/srv/project');
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdd-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file and resolves cwd against its folder, wherever zdd runs from', () => {
    const project = path.join(dir, 'project');
    mkdirSync(project);
    writeFileSync(path.join(project, 'zdd.yaml'), minimal + '    cwd: app\n');
    const config = loadConfig(path.relative(process.cwd(), path.join(project, 'zdd.yaml')));
    assert.equal(config.file, path.join(project, 'zdd.yaml'));
    assert.equal(config.services.get('web')!.cwd, path.join(project, 'app'));
  });

  it('throws CONFIG_NOT_FOUND for a missing file', () => {
    assert.throws(
      () => loadConfig(path.join(dir, 'missing.yaml')),
      (err: unknown) => err instanceof ZddError && err.code === 'CONFIG_NOT_FOUND' && err.message.includes('missing.yaml'),
    );
  });

  it('throws a ConfigError naming the file for an invalid one', () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, minimal + '    replicas: -1\n');
    assert.throws(
      () => loadConfig(bad),
      (err: unknown) => err instanceof ConfigError && err.file === bad && err.issues[0]!.key === 'services.web.replicas' && err.issues[0]!.line === 5,
    );
  });
});
