/**
 * Follows WebSocket frame boundaries (RFC 6455 §5.2) in a byte stream without buffering payloads, so the
 * proxy can add a Close frame of its own between two frames and never inside one.
 */
export class FrameBoundaries {
  /** Header bytes of the frame being read, until its header is complete. */
  #header: number[] = [];
  /** Payload bytes of the current frame still to come. */
  #remaining = 0;

  get atBoundary(): boolean {
    return this.#header.length === 0 && this.#remaining === 0;
  }

  /**
   * Consumes bytes; with `stopAtBoundary`, stops at the first frame boundary reached (possibly at 0).
   * Returns how many bytes of `chunk` were consumed.
   */
  advance(chunk: Uint8Array, stopAtBoundary = false): number {
    let i = 0;
    while (i < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return i;
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.length - i);
        this.#remaining -= n;
        i += n;
        continue;
      }
      this.#header.push(chunk[i++]!);
      const need = headerLength(this.#header);
      if (need !== undefined && this.#header.length === need) {
        this.#remaining = payloadLength(this.#header);
        this.#header = [];
      }
    }
    return i;
  }
}

/** Total header length once enough of it is known, else undefined. */
function headerLength(h: number[]): number | undefined {
  if (h.length < 2) return undefined;
  const len7 = h[1]! & 0x7f;
  const mask = h[1]! & 0x80 ? 4 : 0;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + mask;
}

function payloadLength(h: number[]): number {
  const len7 = h[1]! & 0x7f;
  if (len7 < 126) return len7;
  if (len7 === 126) return (h[2]! << 8) | h[3]!;
  let n = 0;
  for (let k = 2; k < 10; k++) n = n * 256 + h[k]!;
  return n;
}

/** A server-to-client Close frame (unmasked) with status 1001 "going away". */
export function goingAwayFrame(reason = 'server restarting'): Buffer {
  // A control frame's payload is at most 125 bytes: 2 for the code, 123 for the reason, cut on a
  // UTF-8 character boundary.
  let text = Buffer.from(reason);
  if (text.length > 123) {
    let end = 123;
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
    text = text.subarray(0, end);
  }
  return Buffer.concat([Buffer.from([0x88, 2 + text.length, 0x03, 0xe9]), text]);
}
