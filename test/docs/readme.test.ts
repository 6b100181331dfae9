// The README's complete zdd.yaml examples are valid config: a newcomer copies them first.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';

const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');

/** The ```yaml blocks that hold a whole zdd.yaml (they start with services:), without their list indentation. */
function configExamples(): string[] {
  return [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => {
      const lines = m[1]!.split('\n');
      const indent = /^ */.exec(lines[0]!)![0].length;
      return lines.map((l) => l.slice(indent)).join('\n');
    })
    .filter((text) => text.startsWith('services:'));
}

describe('README', () => {
  it('has complete config examples, and every one of them parses', { timeout: 10_000 }, () => {
    const examples = configExamples();
    assert.ok(examples.length >= 2, `expected the quick one and "Serving a domain", found ${examples.length}`);
    for (const text of examples) {
      const config = parseConfig(text, '/srv/app/zdd.yaml');
      assert.ok(config.services.size >= 1);
    }
  });

  it('"Serving a domain" puts two services with TLS on one address', { timeout: 10_000 }, () => {
    const shared = configExamples()
      .map((text) => parseConfig(text, '/srv/app/zdd.yaml'))
      .find((c) => [...c.services.values()].filter((s) => s.tls && s.listen.port === 443).length === 2);
    assert.ok(shared, 'no example with two TLS services on :443');
  });
});
