import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProcNetTcp } from '../../src/daemon/proc-sockets.ts';
import { matchScore, passedFds } from '../../src/daemon/socket-activation.ts';

describe('passedFds (sd_listen_fds)', () => {
  it('numbers the fds from 3 and names them from LISTEN_FDNAMES', { timeout: 5_000 }, () => {
    assert.deepEqual(passedFds({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:control' }, 42), [
      { fd: 3, name: 'web' },
      { fd: 4, name: 'control' },
    ]);
    assert.deepEqual(passedFds({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42), [{ fd: 3, name: undefined }]);
  });

  it('ignores fds meant for another process or announced badly', { timeout: 5_000 }, () => {
    assert.equal(passedFds({ LISTEN_PID: '41', LISTEN_FDS: '1' }, 42), undefined);
    assert.equal(passedFds({ LISTEN_FDS: '1' }, 42), undefined);
    assert.equal(passedFds({ LISTEN_PID: '42', LISTEN_FDS: 'x' }, 42), undefined);
    assert.equal(passedFds({}, 42), undefined);
  });
});

describe('matchScore: which address in zdd.yaml a handed-in socket serves', () => {
  it('prefers the same address, then an equivalent one on the same port', { timeout: 5_000 }, () => {
    assert.equal(matchScore({ host: '127.0.0.1', port: 80 }, { host: '127.0.0.1', port: 80 }), 2);
    assert.equal(matchScore({ host: '::', port: 80 }, { host: '0.0.0.0', port: 80 }), 1, 'ListenStream=80 is [::] on both stacks');
    assert.equal(matchScore({ host: '127.0.0.1', port: 80 }, { host: 'localhost', port: 80 }), 1);
    assert.equal(matchScore({ host: '::ffff:10.0.0.1', port: 80 }, { host: '10.0.0.1', port: 80 }), 2);
    assert.equal(matchScore({ host: '127.0.0.1', port: 81 }, { host: '127.0.0.1', port: 80 }), 0);
    assert.equal(matchScore({ host: '10.0.0.2', port: 80 }, { host: '10.0.0.1', port: 80 }), 0);
    assert.equal(matchScore({ host: '127.0.0.1', port: 80 }, { host: '0.0.0.0', port: 80 }), 0, 'one interface does not serve all');
  });
});

describe('parseProcNetTcp', () => {
  it('reads the listening sockets of /proc/net/tcp and tcp6 by inode', { timeout: 5_000 }, () => {
    const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1068 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2000 1 0 100 0 0 10 0
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1069 1 0 100 0 0 10 0`;
    assert.deepEqual(
      [...parseProcNetTcp(tcp, true)],
      [
        ['1068', { host: '127.0.0.1', port: 8080 }],
        ['1069', { host: '0.0.0.0', port: 80 }],
      ],
    );
    const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3001 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3002 1 0 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3003 1 0 100 0 0 10 0`;
    assert.deepEqual(
      [...parseProcNetTcp(tcp6, true)],
      [
        ['3001', { host: '::', port: 443 }],
        ['3002', { host: '::1', port: 8080 }],
        ['3003', { host: '127.0.0.1', port: 8081 }],
      ],
    );
  });
});
