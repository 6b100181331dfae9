import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workerCount } from '../../src/proxy/workers/worker-count.ts';

describe('how many data-plane workers an address gets', () => {
  it('runs one worker on small machines and half the cores (up to 8) on bigger ones', { timeout: 5_000 }, () => {
    assert.deepEqual([1, 2, 3, 4, 8, 16, 64].map((cores) => workerCount('auto', false, cores, undefined)), [1, 1, 1, 2, 4, 8, 8]);
  });

  it('takes a written number as it is, and ZDD_PROXY_WORKERS only in place of auto', { timeout: 5_000 }, () => {
    assert.equal(workerCount(3, false, 2, '0'), 3);
    assert.equal(workerCount('auto', false, 2, '2'), 2);
    assert.equal(workerCount('auto', false, 8, 'lots'), 4);
  });

  it('gives TLS addresses none: the daemon serves them itself', { timeout: 5_000 }, () => {
    assert.equal(workerCount('auto', true, 16, '2'), 0);
    assert.equal(workerCount(2, true, 16, undefined), 0);
  });
});
