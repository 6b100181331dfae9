import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameBoundaries, goingAwayFrame } from '../../src/proxy/ws-frames.ts';

/** A WebSocket frame; with `mask`, masked as a client sends it. */
function frame(opcode: number, payloadLength: number, mask = false): Buffer {
  const ext = payloadLength < 126 ? 0 : payloadLength < 65_536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = 0x80 | opcode;
  const len7 = ext === 0 ? payloadLength : ext === 2 ? 126 : 127;
  head[1] = (mask ? 0x80 : 0) | len7;
  if (ext === 2) head.writeUInt16BE(payloadLength, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(payloadLength), 2);
  if (mask) head.set([0x12, 0x34, 0x56, 0x78], 2 + ext);
  return Buffer.concat([head, Buffer.alloc(payloadLength, 0xab)]);
}

/** Feeds `data` in pieces of `size` bytes; returns whether the tracker was at a boundary after each piece. */
function feed(fb: FrameBoundaries, data: Buffer, size: number): boolean[] {
  const seen: boolean[] = [];
  for (let i = 0; i < data.length; i += size) {
    const piece = data.subarray(i, i + size);
    assert.equal(fb.advance(piece), piece.length, 'without stopAtBoundary every byte is consumed');
    seen.push(fb.atBoundary);
  }
  return seen;
}

describe('FrameBoundaries', () => {
  it('starts at a boundary and is at one again after a whole small frame', () => {
    const fb = new FrameBoundaries();
    assert.equal(fb.atBoundary, true);
    assert.equal(fb.advance(frame(0x1, 5)), 7);
    assert.equal(fb.atBoundary, true);
  });

  it('is not at a boundary inside a frame header split over chunks, nor inside the payload', () => {
    const f = frame(0x2, 300); // 16-bit length: 4 header bytes
    const fb = new FrameBoundaries();
    fb.advance(f.subarray(0, 1));
    assert.equal(fb.atBoundary, false, 'after 1 header byte');
    fb.advance(f.subarray(1, 3));
    assert.equal(fb.atBoundary, false, 'after 3 of 4 header bytes');
    fb.advance(f.subarray(3, 4));
    assert.equal(fb.atBoundary, false, 'header complete, payload to come');
    fb.advance(f.subarray(4, 200));
    assert.equal(fb.atBoundary, false, 'inside the payload');
    fb.advance(f.subarray(200));
    assert.equal(fb.atBoundary, true);
  });

  it('follows a frame fed one byte at a time for 7-bit, 16-bit and 64-bit lengths', () => {
    for (const length of [0, 1, 125, 126, 65_535, 65_536, 70_000]) {
      const f = frame(0x2, length);
      const fb = new FrameBoundaries();
      const seen = feed(fb, f, 1);
      assert.equal(seen.at(-1), true, `length ${length}: boundary at the end`);
      assert.equal(seen.slice(0, -1).includes(true), false, `length ${length}: no boundary before the end`);
    }
  });

  it('reads a 16-bit length from the extended length bytes', () => {
    const fb = new FrameBoundaries();
    const f = frame(0x2, 40_000);
    fb.advance(f.subarray(0, f.length - 1));
    assert.equal(fb.atBoundary, false, 'one byte short');
    fb.advance(f.subarray(f.length - 1));
    assert.equal(fb.atBoundary, true);
  });

  it('reads a 64-bit length from the extended length bytes', () => {
    const fb = new FrameBoundaries();
    const f = frame(0x2, 100_000);
    fb.advance(f.subarray(0, 10));
    fb.advance(f.subarray(10, 10 + 99_999));
    assert.equal(fb.atBoundary, false, 'one byte short');
    fb.advance(f.subarray(10 + 99_999));
    assert.equal(fb.atBoundary, true);
  });

  it('counts the 4 mask bytes of a masked frame as header, not payload', () => {
    for (const length of [3, 300, 70_000]) {
      const f = frame(0x1, length, true);
      const fb = new FrameBoundaries();
      fb.advance(f.subarray(0, f.length - 1));
      assert.equal(fb.atBoundary, false, `length ${length}: one byte short`);
      fb.advance(f.subarray(f.length - 1));
      assert.equal(fb.atBoundary, true, `length ${length}`);
    }
  });

  it('treats a frame with an empty payload as complete after its header', () => {
    const fb = new FrameBoundaries();
    const ping = frame(0x9, 0);
    fb.advance(ping.subarray(0, 1));
    assert.equal(fb.atBoundary, false);
    fb.advance(ping.subarray(1));
    assert.equal(fb.atBoundary, true);
  });

  it('follows many frames in one chunk and frames spanning chunks of any size', () => {
    const stream = Buffer.concat([frame(0x1, 10), frame(0x2, 200, true), frame(0x9, 0), frame(0x2, 66_000), frame(0x1, 125, true)]);
    for (const size of [1, 2, 3, 7, 100, 4096, stream.length]) {
      const fb = new FrameBoundaries();
      const seen = feed(fb, stream, size);
      assert.equal(seen.at(-1), true, `chunks of ${size}`);
    }
  });

  describe('with stopAtBoundary', () => {
    it('consumes nothing when already at a boundary', () => {
      const fb = new FrameBoundaries();
      assert.equal(fb.advance(frame(0x1, 5), true), 0);
      assert.equal(fb.atBoundary, true);
    });

    it('stops right after the frame in progress and leaves the next frame unread', () => {
      const first = frame(0x2, 1000);
      const second = frame(0x1, 10);
      const fb = new FrameBoundaries();
      fb.advance(first.subarray(0, 500));
      const rest = Buffer.concat([first.subarray(500), second]);
      assert.equal(fb.advance(rest, true), first.length - 500);
      assert.equal(fb.atBoundary, true);
    });

    it('finishes a frame whose header was split before stopping', () => {
      const first = frame(0x2, 70_000); // 10 header bytes
      const second = frame(0x1, 3);
      const fb = new FrameBoundaries();
      fb.advance(first.subarray(0, 5));
      assert.equal(fb.atBoundary, false);
      const rest = Buffer.concat([first.subarray(5), second]);
      assert.equal(fb.advance(rest, true), first.length - 5);
      assert.equal(fb.atBoundary, true);
    });

    it('consumes the whole chunk when the frame in progress does not end in it', () => {
      const f = frame(0x2, 1000);
      const fb = new FrameBoundaries();
      fb.advance(f.subarray(0, 10));
      assert.equal(fb.advance(f.subarray(10, 600), true), 590);
      assert.equal(fb.atBoundary, false);
      assert.equal(fb.advance(Buffer.concat([f.subarray(600), frame(0x1, 1)]), true), f.length - 600);
      assert.equal(fb.atBoundary, true);
    });
  });
});

describe('goingAwayFrame', () => {
  it('is an unmasked Close frame with code 1001 and the reason', () => {
    const f = goingAwayFrame('bye now');
    assert.equal(f[0], 0x88, 'FIN + opcode Close');
    assert.equal(f[1], 2 + 7, 'unmasked, code + reason length');
    assert.equal(f.readUInt16BE(2), 1001);
    assert.equal(f.subarray(4).toString(), 'bye now');
    const fb = new FrameBoundaries();
    fb.advance(f);
    assert.equal(fb.atBoundary, true);
  });

  it('keeps a long reason within a control frame payload of at most 125 bytes', () => {
    const f = goingAwayFrame('x'.repeat(500));
    assert.ok(f[1]! <= 125, `payload length ${f[1]}`);
    assert.equal(f.length, 2 + f[1]!);
  });

  it('keeps a reason in multi-byte characters within 125 bytes and valid UTF-8', () => {
    const f = goingAwayFrame('é'.repeat(100));
    assert.equal(f[0], 0x88);
    assert.equal(f[1]! & 0x80, 0, 'a server frame is not masked');
    assert.ok(f[1]! <= 125, `payload length ${f[1]}`);
    assert.equal(f.length, 2 + f[1]!);
    assert.equal(f.readUInt16BE(2), 1001);
    const reason = f.subarray(4);
    assert.equal(new TextDecoder('utf-8', { fatal: true }).decode(reason), 'é'.repeat(reason.length / 2));
  });
});
