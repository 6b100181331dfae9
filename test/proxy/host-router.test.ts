import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostRouter, normaliseHost, stripPathPrefix, upstreamUrl, type RouteEntry } from '../../src/proxy/host-router.ts';

function entry(service: string, hosts: string[] = [], paths: string[] = [], stripPrefix = false): RouteEntry<string> {
  return { service, hosts, paths, stripPrefix, target: `target of ${service}` };
}

/** The service a request goes to, or undefined (404). */
function route(router: HostRouter<string>, host: string | undefined, url: string): string | undefined {
  return router.match(host, url)?.entry.service;
}

describe('HostRouter: which host wins', () => {
  const router = new HostRouter([entry('default'), entry('wild', ['*.example.com']), entry('app', ['app.example.com']), entry('ip', ['192.0.2.7', '::1'])]);

  it('prefers an exact host, then a one-level wildcard, then the entry without hosts', () => {
    assert.equal(route(router, 'app.example.com', '/'), 'app');
    assert.equal(route(router, 'shop.example.com', '/'), 'wild');
    assert.equal(route(router, 'example.com', '/'), 'default', 'a wildcard does not cover its own domain');
    assert.equal(route(router, 'a.b.example.com', '/'), 'default', 'nor two levels below it');
    assert.equal(route(router, 'other.test', '/'), 'default');
  });

  it('ignores case, the port and a trailing dot', () => {
    for (const host of ['APP.Example.com', 'app.example.com:8443', 'app.example.com.', 'App.Example.Com.:80']) assert.equal(route(router, host, '/'), 'app', host);
    assert.equal(route(router, 'Shop.EXAMPLE.com.:443', '/'), 'wild');
  });

  it('matches IP hosts, IPv6 in brackets with or without a port, in any spelling', () => {
    assert.equal(route(router, '192.0.2.7:8080', '/'), 'ip');
    assert.equal(route(router, '[::1]:8080', '/'), 'ip');
    assert.equal(route(router, '[::1]', '/'), 'ip');
    assert.equal(route(router, '[0:0:0::1]:80', '/'), 'ip');
  });

  it('sends a missing, empty or malformed host to the entry without hosts', () => {
    for (const host of [undefined, '', ':80', '[::1', '[::1]x', 'app.example.com:http', '::1']) assert.equal(route(router, host, '/'), 'default', String(host));
  });

  it('answers nothing (404) when no entry covers the host and there is no default', () => {
    const strict = new HostRouter([entry('app', ['app.example.com'])]);
    assert.equal(strict.match('other.test', '/'), undefined);
    assert.equal(strict.match(undefined, '/'), undefined);
    assert.equal(new HostRouter<string>([]).match('app.example.com', '/'), undefined);
  });

  it('returns the entry itself, with its target', () => {
    const m = router.match('app.example.com', '/x')!;
    assert.equal(m.entry, router.entries[2]);
    assert.equal(m.entry.target, 'target of app');
    assert.equal(m.prefix, undefined, 'no paths: no prefix');
  });
});

describe('HostRouter: paths', () => {
  const router = new HostRouter([
    entry('site', ['app.example.com']),
    entry('api', ['app.example.com'], ['/api']),
    entry('v2', ['app.example.com'], ['/api/v2']),
    entry('docs', ['*.example.com'], ['/docs']),
    entry('assets', [], ['/assets']),
  ]);

  it('matches prefixes on segment boundaries, the query apart', () => {
    for (const url of ['/api', '/api/', '/api/x', '/api?x=1', '/api/?x=1', '/api/v2x']) assert.equal(route(router, 'app.example.com', url), 'api', url);
    for (const url of ['/apix', '/ap', '/', '/x/api', '/API']) assert.equal(route(router, 'app.example.com', url), 'site', url);
  });

  it('takes the longest matching prefix first', () => {
    assert.equal(route(router, 'app.example.com', '/api/v2'), 'v2');
    assert.equal(route(router, 'app.example.com', '/api/v2/users?id=1'), 'v2');
    assert.equal(route(router, 'app.example.com', '/api/v1/users'), 'api');
  });

  it('falls through to the next host class when the host has no entry for the path', () => {
    assert.equal(route(router, 'www.example.com', '/docs/a'), 'docs');
    assert.equal(route(router, 'www.example.com', '/blog'), undefined);
    assert.equal(route(router, 'www.example.com', '/assets/app.css'), 'assets');
    assert.equal(route(router, 'app.example.com', '/assets/app.css'), 'site', 'the host\'s catch-all comes before any other host class');
  });

  it('compares the path as sent: no percent-decoding, so %2F is not a separator', () => {
    assert.equal(route(router, 'app.example.com', '/api%2Fv2'), 'site');
    assert.equal(route(router, 'app.example.com', '/%61pi'), 'site');
    assert.equal(route(router, 'app.example.com', '/api/v2%2Fx'), 'api');
  });

  it('matches only entries without paths for a target that is not origin-form', () => {
    assert.equal(route(router, 'app.example.com', '*'), 'site');
    assert.equal(route(router, 'other.test', '*'), undefined);
  });

  it('reports the matched prefix', () => {
    assert.equal(router.match('app.example.com', '/api/v2/x')!.prefix, '/api/v2');
    assert.equal(router.match('other.test', '/assets')!.prefix, '/assets');
  });

  it('treats "/" like no paths, and normalises hosts and paths it is given as the config does', () => {
    const r = new HostRouter([entry('all', ['App.Example.com.'], ['/']), entry('api', ['app.example.com'], ['/api/'])]);
    assert.equal(route(r, 'app.example.com', '/x'), 'all');
    assert.equal(r.match('app.example.com', '/x')!.prefix, undefined);
    assert.equal(route(r, 'app.example.com', '/api/x'), 'api');
  });
});

describe('HostRouter: construction', () => {
  it('refuses two entries with one host and path, and invalid hosts or paths (config checks refuse them first)', () => {
    assert.throws(() => new HostRouter([entry('a', ['x.test'], ['/api']), entry('b', ['X.test.'], ['/api/'])]), /services a and b both route x\.test \/api/);
    assert.throws(() => new HostRouter([entry('a'), entry('b', [], ['/'])]), /services a and b both route any host \//);
    assert.throws(() => new HostRouter([entry('a', ['a.*.test'])]), /service a: .*wildcard/);
    assert.throws(() => new HostRouter([entry('a', [], ['api'])]), /service a: .*must start with \//);
  });

  it('routes among thousands of entries (speed: bench, not here)', () => {
    const entries: RouteEntry<string>[] = [entry('default')];
    for (let i = 0; i < 2000; i++) {
      entries.push(entry(`s${i}`, [`app${i}.example.com`]));
      entries.push(entry(`p${i}`, [`app${i}.example.com`], [`/p${i}`, `/shared/${i}`]));
      entries.push(entry(`w${i}`, [`*.team${i}.example.com`]));
    }
    const router = new HostRouter(entries);
    for (const i of [0, 1, 999, 1999]) {
      assert.equal(route(router, `APP${i}.example.com`, '/'), `s${i}`);
      assert.equal(route(router, `app${i}.example.com`, `/p${i}/x`), `p${i}`);
      assert.equal(route(router, `app${i}.example.com`, `/shared/${i}?q`), `p${i}`);
      assert.equal(route(router, `app${i}.example.com`, `/p${i + 1}`), `s${i}`);
      assert.equal(route(router, `x.team${i}.example.com`, '/'), `w${i}`);
    }
    assert.equal(route(router, 'app2000.example.com', '/'), 'default');
  });
});

describe('normaliseHost', () => {
  for (const [host, name] of [
    ['Example.COM', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com.:443', 'example.com'],
    ['example.com:', 'example.com'],
    ['192.0.2.7:80', '192.0.2.7'],
    ['[::1]:8080', '::1'],
    ['[2001:DB8:0::1]', '2001:db8::1'],
  ] as const) {
    it(`reads "${host}" as ${name}`, () => assert.equal(normaliseHost(host), name));
  }
  for (const host of ['', '.', ':80', '::1', '[::1', '[::1]:x', '[nope]', 'a.com:8o']) {
    it(`gives nothing for "${host}"`, () => assert.equal(normaliseHost(host), undefined));
  }
});

describe('stripPathPrefix', () => {
  for (const [url, prefix, stripped] of [
    ['/api/x?y', '/api', '/x?y'],
    ['/api/x', '/api', '/x'],
    ['/api', '/api', '/'],
    ['/api/', '/api', '/'],
    ['/api?x=1', '/api', '/?x=1'],
    ['/api/?x=1', '/api', '/?x=1'],
    ['/api/v2/users', '/api/v2', '/users'],
    ['/api//x', '/api', '//x'],
    ['/apix', '/api', '/apix'],
    ['/other', '/api', '/other'],
    ['/x?y', '/', '/x?y'],
  ] as const) {
    it(`${url} without ${prefix} is ${stripped}`, () => assert.equal(stripPathPrefix(url, prefix), stripped));
  }

  it('is applied by upstreamUrl only for entries with stripPrefix and a matched prefix', () => {
    const router = new HostRouter([entry('api', [], ['/api'], true), entry('web', ['web.test'], ['/web']), entry('all', ['all.test'], [], false)]);
    assert.equal(upstreamUrl(router.match(undefined, '/api/users?id=1')!, '/api/users?id=1'), '/users?id=1');
    assert.equal(upstreamUrl(router.match('web.test', '/web/x')!, '/web/x'), '/web/x');
    assert.equal(upstreamUrl(router.match('all.test', '/x')!, '/x'), '/x');
  });
});
