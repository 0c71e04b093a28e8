// The protobuf wire format (varints, length-delimited fields) as Kubernetes' gogo-generated
// messages use it; the schemas that give the fields names live in protobuf.ts.

export interface WireField {
  field: number;
  /** 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. */
  wireType: number;
  varint?: bigint;
  bytes?: Buffer;
}

export function readFields(buf: Buffer): WireField[] {
  const out: WireField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wireType = key & 7;
    if (wireType === 0) out.push({ field, wireType, varint: varint() });
    else if (wireType === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw new Error('truncated field');
      out.push({ field, wireType, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wireType === 1) {
      out.push({ field, wireType, bytes: buf.subarray(pos, pos + 8) });
      pos += 8;
    } else if (wireType === 5) {
      out.push({ field, wireType, bytes: buf.subarray(pos, pos + 4) });
      pos += 4;
    } else throw new Error(`unsupported wire type ${wireType}`);
  }
  return out;
}

/** A schema-less view of a message, for diagnostics: nested messages where the bytes parse as one. */
export function dumpWire(buf: Buffer, depth = 0): unknown {
  return readFields(buf).map((f) => {
    if (f.varint !== undefined) return [f.field, Number(f.varint)];
    const b = f.bytes as Buffer;
    if (depth < 12 && b.length > 0) {
      try {
        const nested = dumpWire(b, depth + 1);
        const text = b.toString('utf8');
        if (/^[\x20-\x7e]*$/.test(text) && text.length > 0) return [f.field, text];
        return [f.field, nested];
      } catch {
        // not a message
      }
    }
    return [f.field, b.toString('utf8')];
  });
}
