import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig, type ConfigIssue } from '../../src/config/load.ts';
import { notifyEvents } from '../../src/config/notify.ts';

const file = '/srv/project/zdd.yaml';

const service = `services:
  web:
    listen: 127.0.0.1:8080
    command: node server.js
`;

function issues(text: string): ConfigIssue[] {
  try {
    parseConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('the config was accepted');
}

function issueAt(list: ConfigIssue[], key: string): ConfigIssue {
  const found = list.find((i) => i.key === key);
  assert.ok(found, `an issue for ${key} in ${JSON.stringify(list)}`);
  return found;
}

describe('notify in zdd.yaml', { timeout: 10_000 }, () => {
  it('is empty when absent', () => {
    const config = parseConfig(service, file);
    assert.deepEqual(config.notify.all, []);
    assert.equal(config.notify.services.size, 0);
  });

  it('reads top-level and per-service entries; events default to all six; the service config (and so a release) holds none of it', () => {
    const config = parseConfig(
      `notify:
  - url: https://hooks.example.com/zdd
    secret: s3cret
${service}    notify:
      - { url: "http://127.0.0.1:9000/hook", events: [deploy.rolled_back, deploy.failed] }
`,
      file,
    );
    assert.deepEqual(config.notify.all, [{ url: 'https://hooks.example.com/zdd', events: [...notifyEvents], secret: 's3cret' }]);
    // Events are kept in their canonical order.
    assert.deepEqual(config.notify.services.get('web'), [{ url: 'http://127.0.0.1:9000/hook', events: ['deploy.failed', 'deploy.rolled_back'] }]);
    assert.equal('notify' in config.services.get('web')!, false);
  });

  it('lists the valid events when one is unknown, naming the key and line', () => {
    const list = issues(`${service}    notify:
      - url: https://hooks.example.com/zdd
        events: [deploy.started, deploy.finished]
`);
    const i = issueAt(list, 'services.web.notify.0.events.1');
    assert.equal(i.line, 7);
    assert.equal(i.message, `"deploy.finished" is not an event; the events are ${notifyEvents.join(', ')}`);
  });

  it('wants an http or https URL', () => {
    for (const bad of ['ftp://example.com/x', 'hooks.example.com', '""']) {
      const i = issueAt(issues(`notify:\n  - url: ${bad}\n${service}`), 'notify.0.url');
      assert.equal(i.line, 2);
      assert.match(i.message, /is not an http or https URL; write one such as https:\/\/hooks\.example\.com\/zdd/);
    }
  });

  it('requires url, refuses an empty events list, an empty secret and unknown keys', () => {
    const list = issues(`notify:
  - events: [deploy.failed]
  - url: https://a.example/
    events: []
  - url: https://b.example/
    secret: ""
  - url: https://c.example/
    secrets: x
${service}`);
    assert.equal(issueAt(list, 'notify.0.url').message, 'is required');
    assert.equal(issueAt(list, 'notify.0.url').line, 2);
    assert.match(issueAt(list, 'notify.1.events').message, /^name at least one event/);
    assert.equal(issueAt(list, 'notify.1.events').line, 4);
    assert.equal(issueAt(list, 'notify.2.secret').message, 'must not be empty');
    assert.equal(issueAt(list, 'notify.2.secret').line, 6);
    assert.equal(issueAt(list, 'notify.3.secrets').message, 'unknown key "secrets" (did you mean "secret"?)');
    assert.equal(issueAt(list, 'notify.3.secrets').line, 8);
  });

  it('wants a list', () => {
    const i = issueAt(issues(`notify: https://hooks.example.com/zdd\n${service}`), 'notify');
    assert.equal(i.line, 1);
    assert.equal(i.message, 'expected a list of { url, events, secret }');
  });

  it('shows key and line in the error message', () => {
    try {
      parseConfig(`${service}    notify: [{ url: "https://a.example/", events: [bogus] }]\n`, file);
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /zdd\.yaml:5: services\.web\.notify\.0\.events\.0: "bogus" is not an event; the events are deploy\.started, /);
    }
  });
});
