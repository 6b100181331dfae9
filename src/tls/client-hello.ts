// The two fields of a TLS ClientHello that decide who answers it: the server name (SNI) and the offered ALPN
// protocols. Node calls SNICallback without the ALPN list, but a TLS-ALPN-01 validation (RFC 8737) must get the
// challenge certificate only when it offers "acme-tls/1", so the listener reads the ClientHello first.
// Only parsing here (RFC 8446 §4.1.2, RFC 6066 §3, RFC 7301 §3.1); no TLS is spoken.

export type ClientHelloPeek =
  | { kind: 'hello'; servername: string | undefined; alpn: string[] }
  /** More bytes are needed. */
  | { kind: 'incomplete' }
  /** Not a TLS ClientHello (or not one this parser reads): hand the bytes to TLS as they are. */
  | { kind: 'other' };

/** Larger than any ClientHello a client sends (post-quantum key shares make them ~1.5–2 KB). */
export const maxClientHelloBytes = 64 * 1024;

const handshakeRecord = 22;
const clientHelloType = 1;
const serverNameExtension = 0;
const alpnExtension = 16;

/** Reads the ClientHello at the start of `data` (the first bytes a TLS client sends, possibly over several records). */
export function peekClientHello(data: Buffer): ClientHelloPeek {
  const handshake = handshakeBytes(data);
  if (handshake === 'incomplete' || handshake === 'other') return { kind: handshake };
  try {
    return parseClientHello(handshake);
  } catch {
    return { kind: 'other' };
  }
}

/** The ClientHello handshake message, joined from the handshake records it spans. */
function handshakeBytes(data: Buffer): Buffer | 'incomplete' | 'other' {
  const parts: Buffer[] = [];
  let have = 0;
  let need: number | undefined;
  for (let at = 0; ; ) {
    if (data.length < at + 5) return data.length > maxClientHelloBytes ? 'other' : 'incomplete';
    if (data[at] !== handshakeRecord || data[at + 1] !== 3) return 'other';
    const length = data.readUInt16BE(at + 3);
    if (data.length < at + 5 + length) return 'incomplete';
    parts.push(data.subarray(at + 5, at + 5 + length));
    have += length;
    at += 5 + length;
    if (need === undefined && have >= 4) {
      const first = Buffer.concat(parts);
      if (first[0] !== clientHelloType) return 'other';
      need = 4 + first.readUIntBE(1, 3);
      if (need > maxClientHelloBytes) return 'other';
    }
    if (need !== undefined && have >= need) return Buffer.concat(parts).subarray(4, need);
  }
}

function parseClientHello(body: Buffer): ClientHelloPeek {
  const r = new Reader(body);
  r.skip(2 + 32); // legacy_version, random
  r.skip(r.u8()); // legacy_session_id
  r.skip(r.u16()); // cipher_suites
  r.skip(r.u8()); // legacy_compression_methods
  let servername: string | undefined;
  let alpn: string[] = [];
  if (r.left === 0) return { kind: 'hello', servername, alpn };
  const extensions = r.sub(r.u16());
  while (extensions.left > 0) {
    const type = extensions.u16();
    const ext = extensions.sub(extensions.u16());
    if (type === serverNameExtension) servername = readServerName(ext);
    else if (type === alpnExtension) alpn = readAlpn(ext);
  }
  return { kind: 'hello', servername, alpn };
}

function readServerName(ext: Reader): string | undefined {
  const list = ext.sub(ext.u16());
  while (list.left > 0) {
    const type = list.u8();
    const name = list.bytes(list.u16());
    if (type === 0) return name.toString('latin1');
  }
  return undefined;
}

function readAlpn(ext: Reader): string[] {
  const list = ext.sub(ext.u16());
  const out: string[] = [];
  while (list.left > 0) out.push(list.bytes(list.u8()).toString('latin1'));
  return out;
}

/** Bounds-checked reads: a malformed length throws (and the hello counts as "other"). */
class Reader {
  readonly #buf: Buffer;
  #at = 0;
  constructor(buf: Buffer) {
    this.#buf = buf;
  }
  get left(): number {
    return this.#buf.length - this.#at;
  }
  #take(n: number): Buffer {
    if (n > this.left) throw new RangeError('truncated ClientHello');
    const out = this.#buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
  u8(): number {
    return this.#take(1).readUInt8(0);
  }
  u16(): number {
    return this.#take(2).readUInt16BE(0);
  }
  skip(n: number): void {
    this.#take(n);
  }
  bytes(n: number): Buffer {
    return this.#take(n);
  }
  sub(n: number): Reader {
    return new Reader(this.#take(n));
  }
}
