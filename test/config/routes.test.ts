// The host and path rules shared by the config checks and the proxy's HostRouter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeRoute, parseHostPattern, parsePathPrefix, pathHasPrefix, routeKeys } from '../../src/config/routes.ts';

describe('parseHostPattern', () => {
  for (const [text, host] of [
    ['app.example.com', 'app.example.com'],
    ['APP.Example.com.', 'app.example.com'],
    ['*.Example.com', '*.example.com'],
    ['*.localhost', '*.localhost'],
    ['localhost', 'localhost'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['10.0.0.1', '10.0.0.1'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['[2001:DB8:0:0::1]', '2001:db8::1'],
    [' app.example.com ', 'app.example.com'],
  ] as const) {
    it(`reads "${text}" as ${host}`, () => assert.deepEqual(parseHostPattern(text), { host }));
  }

  for (const text of ['', '.', '*', '*.', '**.example.com', 'a.*', 'a b.com', 'app.example.com:80', 'http://a.com', 'user@a.com', 'a-.com', '256.1.1.1', '1.2.3', '[::1', '[zz::1]']) {
    it(`rejects "${text}" with a reason`, () => {
      const r = parseHostPattern(text);
      assert.ok('error' in r && r.error.length > 0, JSON.stringify(r));
    });
  }
});

describe('parsePathPrefix', () => {
  for (const [text, prefix] of [
    ['/', '/'],
    ['///', '/'],
    ['/api', '/api'],
    ['/api/', '/api'],
    ['/api/v1/', '/api/v1'],
    ['/%7euser', '/%7Euser'],
    ['/a:b@c;d=e', '/a:b@c;d=e'],
  ] as const) {
    it(`reads "${text}" as ${prefix}`, () => assert.deepEqual(parsePathPrefix(text), { prefix }));
  }

  for (const text of ['', 'api', '/a?', '/a#b', '/a//b', '/./a', '/a/..', '/a b', '/a%2', '/é']) {
    it(`rejects "${text}" with a reason`, () => {
      const r = parsePathPrefix(text);
      assert.ok('error' in r && r.error.length > 0, JSON.stringify(r));
    });
  }
});

describe('pathHasPrefix', () => {
  it('holds on segment boundaries only', () => {
    for (const path of ['/api', '/api/', '/api/x']) assert.equal(pathHasPrefix(path, '/api'), true, path);
    for (const path of ['/apix', '/ap', '/', '', '/API']) assert.equal(pathHasPrefix(path, '/api'), false, path);
    assert.equal(pathHasPrefix('anything', '/'), true);
  });
});

describe('routeKeys', () => {
  it('crosses every host with every path; none is any host or every path', () => {
    assert.deepEqual(routeKeys(['a.test', 'b.test'], ['/x', '/y']), [
      { host: 'a.test', prefix: '/x' },
      { host: 'a.test', prefix: '/y' },
      { host: 'b.test', prefix: '/x' },
      { host: 'b.test', prefix: '/y' },
    ]);
    assert.deepEqual(routeKeys([], []), [{ host: undefined, prefix: undefined }]);
    assert.deepEqual(routeKeys(['a.test'], ['/']), [{ host: 'a.test', prefix: undefined }]);
  });

  it('reads in messages as host and path', () => {
    assert.equal(describeRoute({ host: 'a.test', prefix: '/api' }), 'a.test/api');
    assert.equal(describeRoute({ host: '*.a.test', prefix: undefined }), '*.a.test');
    assert.equal(describeRoute({ host: undefined, prefix: '/api' }), 'any host under /api');
  });
});
