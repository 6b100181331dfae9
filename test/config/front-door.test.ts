// The keys of issue 9 (hosts, paths, stripPrefix, tls, redirectHttp, hsts) and the rules for services
// that share one listen address: every mistake names its key, its line and, across services, both.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig, type ConfigIssue, type ServiceConfig } from '../../src/config/load.ts';
import { letsEncryptProduction, letsEncryptStaging } from '../../src/config/tls.ts';

const file = '/srv/project/zdd.yaml';

const minimal = `services:
  web:
    listen: 127.0.0.1:8080
    command: node server.js
`;

function web(extra: string): ServiceConfig {
  return parseConfig(minimal + extra, file).services.get('web')!;
}

function issues(text: string): ConfigIssue[] {
  try {
    parseConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('the config was accepted');
}

/** The only issue for `text`, which must be for `key`. */
function onlyIssue(text: string, key: string): ConfigIssue {
  const list = issues(text);
  assert.deepEqual(
    list.map((i) => i.key),
    [key],
    JSON.stringify(list),
  );
  return list[0]!;
}

/** A config of services written as [name, extra lines] pairs, each with a command. */
function services(...list: [string, string][]): string {
  return `services:\n${list.map(([name, body]) => `  ${name}:\n    command: x\n${body}`).join('')}`;
}

describe('hosts', () => {
  it('defaults to none, and a config from before hosts existed loads as it did (plus the new defaults)', () => {
    const s = web('');
    assert.deepEqual([s.hosts, s.paths, s.stripPrefix, s.tls, s.redirectHttp, s.hsts], [[], [], false, undefined, undefined, undefined]);
    assert.equal('tls' in s || 'redirectHttp' in s || 'hsts' in s, false, 'optional keys stay absent');
  });

  it('normalises names to lower case without a trailing dot, IPv6 to its short form, and drops repeats', () => {
    const s = web('    hosts: [App.Example.COM., "*.Example.com", 192.0.2.7, "[0:0::1]", "2001:DB8::1", app.example.com, localhost]\n');
    assert.deepEqual(s.hosts, ['app.example.com', '*.example.com', '192.0.2.7', '::1', '2001:db8::1', 'localhost']);
  });

  for (const [bad, reason] of [
    ['*', /wildcard is only allowed as the whole first label/],
    ['*.*.example.com', /wildcard is only allowed as the whole first label/],
    ['a*.example.com', /wildcard is only allowed as the whole first label/],
    ['app.*.com', /wildcard is only allowed as the whole first label/],
    ['https://app.example.com', /not a host name; write the name alone/],
    ['app.example.com/x', /not a host name; write the name alone/],
    ['app.example.com:443', /write the name alone/],
    ['-app.example.com', /each label between dots is 1 to 63 letters, digits or -/],
    ['app_1.example.com', /each label between dots/],
    ['a..b', /each label between dots/],
    [`${'a'.repeat(64)}.com`, /each label between dots is 1 to 63/],
    ['999.1.1.1', /neither a host name .* nor an IPv4 address/],
    ['*.0.0.1', /neither a host name/],
    ['', /must not be empty/],
  ] as const) {
    it(`rejects "${bad}", naming the entry and line`, () => {
      const issue = onlyIssue(minimal + `    replicas: 1\n    hosts:\n      - a.example.com\n      - "${bad}"\n`, 'services.web.hosts.1');
      assert.equal(issue.line, 8);
      assert.match(issue.message, reason);
    });
  }

  it('rejects hosts that are not a list of strings', () => {
    assert.match(onlyIssue(minimal + '    hosts: app.example.com\n', 'services.web.hosts').message, /expected array/);
    assert.match(onlyIssue(minimal + '    hosts: [1]\n', 'services.web.hosts.0').message, /host name such as app\.example\.com/);
  });
});

describe('paths and stripPrefix', () => {
  it('normalises prefixes without the trailing slash and with upper-case percent-encodings', () => {
    const s = web('    paths: [/api/, /v1/users, "/caf%c3%a9", /api]\n    stripPrefix: true\n');
    assert.deepEqual(s.paths, ['/api', '/v1/users', '/caf%C3%A9']);
    assert.equal(s.stripPrefix, true);
  });

  it('reads "/" as every path, the same as none', () => {
    assert.deepEqual(web('    paths: ["/"]\n').paths, []);
    assert.deepEqual(web('    paths: ["//"]\n').paths, []);
  });

  for (const [bad, reason] of [
    ['api', /must start with \//],
    ['/api?v=1', /no query or fragment/],
    ['/api#top', /no query or fragment/],
    ['/a//b', /empty, "\." or "\.\." segment/],
    ['/a/../b', /empty, "\." or "\.\." segment/],
    ['/a/./b', /empty, "\." or "\.\." segment/],
    ['/a b', /percent-encode them/],
    ['/100%', /percent-encode them/],
  ] as const) {
    it(`rejects "${bad}", naming the entry and line`, () => {
      const issue = onlyIssue(minimal + `    paths: [/ok, "${bad}"]\n`, 'services.web.paths.1');
      assert.equal(issue.line, 5);
      assert.match(issue.message, reason);
    });
  }

  it('rejects "/" next to other prefixes (it already covers them)', () => {
    assert.match(onlyIssue(minimal + '    paths: ["/", /api]\n', 'services.web.paths').message, /"\/" already covers every path/);
  });

  it('refuses stripPrefix without paths (or with only "/"), at its line', () => {
    for (const extra of ['    stripPrefix: true\n', '    paths: ["/"]\n    stripPrefix: true\n']) {
      const issue = onlyIssue(minimal + extra, 'services.web.stripPrefix');
      assert.equal(issue.line, 4 + extra.split('\n').length - 1);
      assert.match(issue.message, /needs paths other than "\/"/);
    }
    assert.equal(web('    stripPrefix: false\n').stripPrefix, false);
  });
});

describe('tls', () => {
  it('resolves cert and key files against zdd.yaml; with files, hosts may be empty (they serve every name)', () => {
    assert.deepEqual(web('    tls: { cert: certs/site.pem, key: /etc/ssl/site.key }\n').tls, { cert: '/srv/project/certs/site.pem', key: '/etc/ssl/site.key' });
  });

  it('fills in the ACME directory: Let\'s Encrypt production by default, "staging" for theirs, any https URL', () => {
    const hosts = '    hosts: [app.example.com]\n';
    assert.deepEqual(web(hosts + '    tls: { acme: { email: ops@example.com } }\n').tls, { acme: { email: 'ops@example.com', directory: letsEncryptProduction } });
    assert.equal(letsEncryptProduction, 'https://acme-v02.api.letsencrypt.org/directory');
    assert.deepEqual(web(hosts + '    tls: { acme: { email: ops@example.com, directory: staging } }\n').tls, { acme: { email: 'ops@example.com', directory: letsEncryptStaging } });
    assert.equal(letsEncryptStaging, 'https://acme-staging-v02.api.letsencrypt.org/directory');
    const pebble = 'https://127.0.0.1:14000/dir';
    assert.deepEqual(web(hosts + `    tls: { acme: { email: ops@example.com, directory: "${pebble}" } }\n`).tls, { acme: { email: 'ops@example.com', directory: pebble } });
  });

  for (const [tls, key, reason] of [
    ['{ cert: site.pem }', 'services.web.tls', /needs key as well as cert/],
    ['{ key: site.key }', 'services.web.tls', /needs cert as well as key/],
    ['{}', 'services.web.tls', /write cert and key .* or acme/],
    ['on', 'services.web.tls', /expected \{ cert: file, key: file \} or \{ acme/],
    ['{ cert: a.pem, key: a.key, acme: { email: ops@example.com } }', 'services.web.tls', /either cert and key \(files\) or acme, not both/],
    ['{ cert: "", key: a.key }', 'services.web.tls.cert', /must not be empty/],
    ['{ acme: { email: ops } }', 'services.web.tls.acme.email', /must be an email address/],
    ['{ acme: {} }', 'services.web.tls.acme.email', /is required/],
    ['{ acme: { email: ops@example.com, directory: "http://acme.example.com/dir" } }', 'services.web.tls.acme.directory', /not an https URL/],
    ['{ acme: { email: ops@example.com, directory: production } }', 'services.web.tls.acme.directory', /not an https URL.*or staging/],
    ['{ acme: { email: ops@example.com, directroy: staging } }', 'services.web.tls.acme.directroy', /did you mean "directory"/],
  ] as const) {
    it(`rejects tls: ${tls}, naming ${key}`, () => {
      const issue = onlyIssue(minimal + `    hosts: [app.example.com]\n    tls: ${tls}\n`, key);
      assert.equal(issue.line, 6);
      assert.match(issue.message, reason);
    });
  }

  it('refuses ACME without hosts (certificates are for names)', () => {
    const issue = onlyIssue(minimal + '    tls: { acme: { email: ops@example.com } }\n', 'services.web.tls');
    assert.equal(issue.line, 5);
    assert.match(issue.message, /ACME certificates are for names: add hosts/);
  });

  it('refuses a wildcard host with ACME, naming the host; accepts it with certificate files', () => {
    const issue = onlyIssue(minimal + '    hosts:\n      - app.example.com\n      - "*.example.com"\n    tls: { acme: { email: ops@example.com } }\n', 'services.web.hosts.1');
    assert.equal(issue.line, 7);
    assert.match(issue.message, /"\*\.example\.com": ACME validates a wildcard name only over DNS/);
    assert.deepEqual(web('    hosts: ["*.example.com"]\n    tls: { cert: w.pem, key: w.key }\n').hosts, ['*.example.com']);
  });
});

describe('redirectHttp and hsts', () => {
  const tls = '    hosts: [app.example.com]\n    tls: { cert: site.pem, key: site.key }\n';

  it('reads redirectHttp as a listen address and hsts as ms (whole seconds, days allowed, far beyond 24 days)', () => {
    const s = web(tls + '    redirectHttp: ":80"\n    hsts: 365d\n');
    assert.deepEqual(s.redirectHttp, { host: '0.0.0.0', port: 80 });
    assert.equal(s.hsts, 365 * 86_400_000);
    assert.equal(web(tls + '    redirectHttp: 127.0.0.1:8081\n    hsts: 0s\n').hsts, 0, 'max-age=0 tells browsers to forget');
    assert.equal(web(tls + '    hsts: 1d12h\n').hsts, 129_600_000);
    assert.equal(web(tls + '    hsts: 730d\n').hsts, 730 * 86_400_000);
  });

  it('rejects a bad redirect address, and an hsts that is not a duration or not whole seconds', () => {
    assert.match(onlyIssue(minimal + tls + '    redirectHttp: "80:http"\n', 'services.web.redirectHttp').message, /not an address/);
    assert.match(onlyIssue(minimal + tls + '    hsts: 1y\n', 'services.web.hsts').message, /"1y" is not a duration; write a number with s, m, h or d, e\.g\. 365d/);
    assert.match(onlyIssue(minimal + tls + '    hsts: 31536000\n', 'services.web.hsts').message, /expected a duration such as 365d/);
    assert.match(onlyIssue(minimal + tls + '    hsts: 1500ms\n', 'services.web.hsts').message, /not a whole number of seconds/);
  });

  it('refuses redirectHttp and hsts without tls, at their lines', () => {
    const list = issues(minimal + '    redirectHttp: ":80"\n    hsts: 365d\n');
    assert.deepEqual(
      list.map((i) => [i.key, i.line]),
      [
        ['services.web.redirectHttp', 5],
        ['services.web.hsts', 6],
      ],
    );
    assert.match(list[0]!.message, /needs tls: it redirects plain HTTP to https/);
    assert.match(list[1]!.message, /needs tls: browsers ignore Strict-Transport-Security over plain HTTP/);
  });
});

describe('services sharing one listen address', () => {
  it('accepts services routed by host and path on one address, with one default', () => {
    const config = parseConfig(
      services(
        ['site', '    listen: ":8080"\n'],
        ['app', '    listen: ":8080"\n    hosts: [app.example.com, "*.app.example.com"]\n'],
        ['api', '    listen: ":8080"\n    hosts: [app.example.com]\n    paths: [/api, /v2/api]\n    stripPrefix: true\n'],
        ['admin', '    listen: ":8080"\n    hosts: [app.example.com]\n    paths: [/api/admin]\n'],
        ['other', '    listen: ":9090"\n'],
      ),
      file,
    );
    assert.equal(config.services.size, 5);
    assert.deepEqual(config.services.get('api')!.paths, ['/api', '/v2/api']);
  });

  it('needs the identical address: ":8080" next to 127.0.0.1:8080 is an error naming both', () => {
    const issue = onlyIssue(services(['api', '    listen: ":8080"\n    hosts: [a.test]\n'], ['web', '    listen: 127.0.0.1:8080\n']), 'services.web.listen');
    assert.equal(issue.line, 8);
    assert.equal(issue.message, '127.0.0.1:8080 overlaps services.api.listen (0.0.0.0:8080, line 4): listeners on one port share it only on the identical address; write 0.0.0.0:8080 for both, or use another port');
  });

  it('allows only one service without hosts on an address, naming both', () => {
    const issue = onlyIssue(services(['api', '    listen: ":8080"\n    paths: [/api]\n'], ['web', '    listen: ":8080"\n']), 'services.web.listen');
    assert.equal(issue.line, 8);
    assert.match(issue.message, /^0\.0\.0\.0:8080 is also services\.api\.listen \(line 4\), and neither services\.api nor services\.web has hosts: only one service on a shared address may go without hosts/);
  });

  it('refuses the same host and path for two services, naming both and the route; the same host with other paths, or exact next to wildcard, is fine', () => {
    const issue = onlyIssue(
      services(['api', '    listen: ":8080"\n    hosts: [a.test, b.test]\n    paths: [/api]\n'], ['web', '    listen: ":8080"\n    hosts:\n      - c.test\n      - B.Test.\n    paths: [/api/]\n']),
      'services.web.hosts.1',
    );
    assert.equal(issue.line, 12);
    assert.equal(issue.message, 'on 0.0.0.0:8080, b.test/api is routed to both services.api and services.web (hosts on lines 5 and 12): the same host and path on one address is ambiguous; give them different hosts or paths');
    const same = onlyIssue(services(['api', '    listen: ":8080"\n    hosts: ["*.a.test"]\n'], ['web', '    listen: ":8080"\n    hosts: ["*.A.test"]\n    paths: ["/"]\n']), 'services.web.hosts.0');
    assert.match(same.message, /\*\.a\.test is routed to both services\.api and services\.web/);
    assert.equal(parseConfig(services(['api', '    listen: ":8080"\n    hosts: [a.test]\n    paths: [/api]\n'], ['web', '    listen: ":8080"\n    hosts: [a.test, "*.a.test"]\n'], ['deep', '    listen: ":8080"\n    hosts: [a.test]\n    paths: [/api/v2]\n']), file).services.size, 3);
  });

  it('refuses a mix of tls and plain HTTP on one address, naming both', () => {
    const issue = onlyIssue(
      services(['api', '    listen: ":443"\n    hosts: [a.test]\n    tls: { cert: c.pem, key: k.pem }\n'], ['web', '    listen: ":443"\n    hosts: [b.test]\n']),
      'services.web.listen',
    );
    assert.equal(issue.line, 9);
    assert.equal(issue.message, '0.0.0.0:443 is also services.api.listen (line 4), which has tls: services on one address all have tls or none');
    const reverse = onlyIssue(
      services(['api', '    listen: ":443"\n    hosts: [a.test]\n'], ['web', '    listen: ":443"\n    hosts: [b.test]\n    tls: { cert: c.pem, key: k.pem }\n']),
      'services.web.tls',
    );
    assert.equal(reverse.line, 10);
    assert.match(reverse.message, /which has no tls/);
  });

  it('accepts TLS services on one address, by ACME and by files, one of them the default', () => {
    const config = parseConfig(
      services(
        ['app', '    listen: ":443"\n    hosts: [app.example.com]\n    tls: { acme: { email: ops@example.com } }\n    redirectHttp: ":80"\n    hsts: 365d\n'],
        ['all', '    listen: ":443"\n    tls: { cert: c.pem, key: k.pem }\n'],
      ),
      file,
    );
    assert.deepEqual(config.services.get('all')!.tls, { cert: '/srv/project/c.pem', key: '/srv/project/k.pem' });
    assert.equal(config.services.get('app')!.hsts, 365 * 86_400_000);
  });

  for (const [key, value, shown] of [
    ['headerTimeout', '5s', /^5s differs from services\.api\.proxy\.headerTimeout \(10s, the default\), and both services are on 0\.0\.0\.0:8080: it is a setting of the shared listener/],
    ['maxConnectionsPerClient', '4', /^4 differs from services\.api\.proxy\.maxConnectionsPerClient \(512, the default\)/],
    ['trustedNetworks', '[10.0.0.0/8]', /^\[10\.0\.0\.0\/8\] differs from services\.api\.proxy\.trustedNetworks \(\[127\.0\.0\.0\/8, ::1\/128\], the default\)/],
    ['workers', '2', /^2 differs from services\.api\.proxy\.workers \(auto, the default\)/],
  ] as const) {
    it(`requires one proxy.${key} on a shared address, naming the key and both services`, () => {
      const issue = onlyIssue(services(['api', '    listen: ":8080"\n    hosts: [a.test]\n'], ['web', `    listen: ":8080"\n    proxy:\n      ${key}: ${value}\n`]), `services.web.proxy.${key}`);
      assert.equal(issue.line, 10);
      assert.match(issue.message, shown);
    });
  }

  it('compares trusted networks as sets, and cites the line of a written value', () => {
    const list = [' [::1/128, 127.0.0.0/8]', ' [127.0.0.0/8, ::1]'];
    assert.equal(parseConfig(services(['api', `    listen: ":8080"\n    hosts: [a.test]\n    proxy: { trustedNetworks:${list[0]} }\n`], ['web', `    listen: ":8080"\n    proxy: { trustedNetworks:${list[1]} }\n`]), file).services.size, 2);
    const issue = onlyIssue(services(['api', '    listen: ":8080"\n    hosts: [a.test]\n    proxy: { headerTimeout: 5s }\n'], ['web', '    listen: ":8080"\n']), 'services.web.proxy.headerTimeout');
    assert.match(issue.message, /^10s \(the default\) differs from services\.api\.proxy\.headerTimeout \(5s, line 6\)/);
  });
});

describe('proxy.workers', () => {
  it('takes auto (the default) or a number of processes from 0 to 64', () => {
    assert.equal(parseConfig(services(['web', '    listen: ":8080"\n']), file).services.get('web')!.proxy.workers, 'auto');
    assert.equal(parseConfig(services(['web', '    listen: ":8080"\n    proxy: { workers: 3 }\n']), file).services.get('web')!.proxy.workers, 3);
    for (const bad of ['-1', '65', '1.5', 'many']) {
      const issue = onlyIssue(services(['web', `    listen: ":8080"\n    proxy: { workers: ${bad} }\n`]), 'services.web.proxy.workers');
      assert.equal(issue.line, 5);
    }
  });

  it('refuses workers on a TLS address, naming the key and line', () => {
    const issue = onlyIssue(services(['web', '    listen: ":443"\n    tls: { cert: c.pem, key: k.pem }\n    proxy: { workers: 2 }\n']), 'services.web.proxy.workers');
    assert.equal(issue.line, 6);
    assert.match(issue.message, /TLS address is served by the daemon process itself/);
    assert.equal(parseConfig(services(['web', '    listen: ":443"\n    tls: { cert: c.pem, key: k.pem }\n    proxy: { workers: 0 }\n']), file).services.size, 1);
  });
});

describe('redirect listeners', () => {
  const secure = (name: string, host: string, redirect: string): [string, string] => [name, `    listen: ":443"\n    hosts: [${host}]\n    tls: { acme: { email: ops@example.com } }\n    redirectHttp: "${redirect}"\n`];

  it('may share an address with each other and with plain-HTTP services', () => {
    const config = parseConfig(services(secure('app', 'app.test', ':80'), secure('shop', 'shop.test', ':80'), ['site', '    listen: ":80"\n'], ['blog', '    listen: ":80"\n    hosts: [app.test]\n    paths: [/blog]\n']), file);
    assert.equal(config.services.size, 4);
  });

  it('may not be a TLS listen address (its own or another service\'s), naming both', () => {
    const own = onlyIssue(services(secure('app', 'app.test', ':443')), 'services.app.redirectHttp');
    assert.equal(own.line, 7);
    assert.match(own.message, /^0\.0\.0\.0:443 is also services\.app\.listen \(line 4\), which serves TLS: the redirect listener is plain HTTP/);
    const other = onlyIssue(services(secure('app', 'app.test', ':80'), secure('shop', 'shop.test', ':443')), 'services.shop.redirectHttp');
    assert.match(other.message, /is also services\.app\.listen \(line 4\), which serves TLS/);
  });

  it('may not overlap another listener on its port without the identical address', () => {
    const issue = onlyIssue(services(['site', '    listen: ":80"\n'], secure('app', 'app.test', '127.0.0.1:80')), 'services.app.redirectHttp');
    assert.equal(issue.line, 10);
    assert.match(issue.message, /^127\.0\.0\.1:80 overlaps services\.site\.listen \(0\.0\.0\.0:80, line 4\)/);
  });

  it('may not take a host a plain service serves on that address (all paths), naming both', () => {
    const issue = onlyIssue(services(secure('app', 'app.test', ':80'), ['site', '    listen: ":80"\n    hosts: [app.test]\n']), 'services.site.hosts.0');
    assert.equal(issue.line, 11);
    assert.equal(issue.message, 'on 0.0.0.0:80, app.test is routed to both services.app.redirectHttp and services.site (hosts on lines 5 and 11): the same host and path on one address is ambiguous; give them different hosts or paths');
  });

  it('lets path-routed services share a host on their redirect address (the redirect takes their paths)', () => {
    const docs: [string, string] = ['docs', '    listen: ":443"\n    hosts: [app.test]\n    paths: [/docs]\n    stripPrefix: true\n    tls: { acme: { email: ops@example.com } }\n    redirectHttp: ":80"\n'];
    assert.equal(parseConfig(services(secure('app', 'app.test', ':80'), docs), file).services.size, 2);
    const twin: [string, string] = ['twin', '    listen: ":8443"\n    hosts: [app.test]\n    tls: { acme: { email: ops@example.com } }\n    redirectHttp: ":80"\n'];
    const issue = onlyIssue(services(secure('app', 'app.test', ':80'), twin), 'services.twin.hosts.0');
    assert.match(issue.message, /app\.test is routed to both services\.app\.redirectHttp and services\.twin\.redirectHttp/);
  });

  it('of two TLS services with no hosts (certificate files) may not both take every host of one address', () => {
    const files = (name: string, port: number): [string, string] => [name, `    listen: ":${port}"\n    tls: { cert: c.pem, key: k.pem }\n    redirectHttp: ":80"\n`];
    const issue = onlyIssue(services(files('app', 443), files('shop', 8443)), 'services.shop.redirectHttp');
    assert.match(issue.message, /neither services\.app\.redirectHttp nor services\.shop\.redirectHttp has hosts/);
  });
});
