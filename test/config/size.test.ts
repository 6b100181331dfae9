import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { formatSize, logDefaults, parseSize } from '../../src/config/size.ts';

const service = (logs: string) => `services:
  web:
    listen: 127.0.0.1:8080
    command: node server.js
${logs}`;

describe('sizes', () => {
  it('reads units (binary: 1KB is 1024 bytes), decimals and plain bytes', { timeout: 5_000 }, () => {
    assert.equal(parseSize('10MB'), 10 * 1024 * 1024);
    assert.equal(parseSize('512KB'), 512 * 1024);
    assert.equal(parseSize('512 kb'), 512 * 1024);
    assert.equal(parseSize('1.5GB'), 1.5 * 1024 ** 3);
    assert.equal(parseSize('2M'), 2 * 1024 ** 2);
    assert.equal(parseSize('64KiB'), 64 * 1024);
    assert.equal(parseSize('100B'), 100);
    assert.equal(parseSize('4096'), 4096);
  });

  it('refuses what is not a size', { timeout: 5_000 }, () => {
    for (const bad of ['', 'MB', '10 megabytes', '-1KB', '1KB2', '10TB', '1e6']) assert.equal(parseSize(bad), undefined, bad);
  });

  it('prints sizes short', { timeout: 5_000 }, () => {
    assert.equal(formatSize(10 * 1024 * 1024), '10MB');
    assert.equal(formatSize(1536), '1.5KB');
    assert.equal(formatSize(100), '100B');
  });
});

describe('the logs key of a service', () => {
  it('is optional (the defaults apply where the instance starts) and takes sizes as text or bytes', { timeout: 5_000 }, () => {
    assert.equal(parseConfig(service(''), '/p/zdd.yaml').services.get('web')!.logs, undefined);
    assert.deepEqual(parseConfig(service('    logs: { maxSize: 512KB }\n'), '/p/zdd.yaml').services.get('web')!.logs, { maxSize: 512 * 1024, keep: logDefaults.keep });
    assert.deepEqual(parseConfig(service('    logs: { maxSize: 4096, keep: 5 }\n'), '/p/zdd.yaml').services.get('web')!.logs, { maxSize: 4096, keep: 5 });
  });

  it('names the key and the line of a bad size or count', { timeout: 5_000 }, () => {
    assert.throws(
      () => parseConfig(service('    logs:\n      maxSize: lots\n      keep: 0\n'), '/p/zdd.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(
          err.issues.map((i) => [i.key, i.line]),
          [
            ['services.web.logs.maxSize', 6],
            ['services.web.logs.keep', 7],
          ],
        );
        assert.match(err.issues[0]!.message, /"lots" is not a size/);
        return true;
      },
    );
    assert.throws(() => parseConfig(service('    logs: { maxSize: 100B }\n'), '/p/zdd.yaml'), /smaller than 1KB/);
  });
});
