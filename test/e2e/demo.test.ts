// A newcomer's first command after npm install: `npx zdd demo` must run every act as it says, with no
// failed request, including a code change and the rollback that brings the old code back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zdd } from '../helpers/cli.ts';
import { repoRoot } from '../helpers/project.ts';

describe('zdd demo', () => {
  it('runs every act as expected with zero failed requests, and shows a code change and its rollback', { timeout: 120_000 }, async () => {
    const r = await zdd(repoRoot, ['demo']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /users sent \d+ requests: \d+ answered, 0 failed/);
    assert.doesNotMatch(r.stdout, /expected (succeeded|failed|rolled-back)\)/);
    assert.match(r.stdout, /the live release still answers: \{"version":"v7","path":"\/"\}/);
    assert.match(r.stdout, /GET \/ → \{"version":"v8","path":"\/","greeting":"hello from the edited code"\}/);
    assert.match(r.stdout, /Rollback: the old code comes back[\s\S]*GET \/ → \{"version":"v7","path":"\/"\}/);
  });
});
