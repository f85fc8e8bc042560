// Strings as the wire wants them: well-formed UTF-16 in, strict UTF-8 out.
//
// A JavaScript string may hold a lone surrogate (half of an emoji cut by a
// careless slice, a paste from a broken source). Encoded, it becomes bytes
// that are not UTF-8, and the node closes the connection with 1003: an outbox
// that resent such a body would do it forever. So every string is made
// well-formed before it is encoded, each lone surrogate becoming U+FFFD, the
// replacement `String.prototype.toWellFormed` makes where the engine has it.
// Lengths count code points, as the node counts them.

const REPLACEMENT = 0xfffd;

interface MaybeWellFormed {
  toWellFormed?: () => string;
}

/** `value` with each lone surrogate replaced by U+FFFD. */
export function wellFormed(value: string): string {
  const native = (value as MaybeWellFormed).toWellFormed;
  return typeof native === 'function' ? native.call(value) : replaceLoneSurrogates(value);
}

/** The fallback of `wellFormed` for engines without `toWellFormed` (exported for its tests). */
export function replaceLoneSurrogates(value: string): string {
  let out: string[] | null = null;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit < 0xd800 || unit > 0xdfff) continue;
    if (unit <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a pair: one code point
        continue;
      }
    }
    out ??= [];
    out.push(value.slice(start, i), String.fromCharCode(REPLACEMENT));
    start = i + 1;
  }
  if (out === null) return value;
  out.push(value.slice(start));
  return out.join('');
}

/** Code points in a well-formed `value`: an emoji of four UTF-8 bytes is one. */
export function codePoints(value: string): number {
  let pairs = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        pairs++;
        i++;
      }
    }
  }
  return value.length - pairs;
}

/** Raised for bytes that are not UTF-8: overlong forms, surrogates, truncated sequences, past U+10FFFF. */
export class Utf8Error extends Error {
  override name = 'Utf8Error';
}

const CHUNK = 8192; // code units per String.fromCharCode call, well under any engine's argument limit

/**
 * Decode UTF-8 strictly (RFC 3629): anything else raises Utf8Error, as the
 * node's own decoder does. Written out rather than left to a TextDecoder,
 * which not every engine the SDK runs on has (React Native's Hermes).
 */
export function decodeUtf8(bytes: Uint8Array): string {
  const parts: string[] = [];
  const units: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    let point: number;
    if (lead < 0x80) {
      point = lead;
      i += 1;
    } else {
      let need: number;
      let min: number;
      if (lead >= 0xc2 && lead <= 0xdf) {
        need = 1;
        min = 0x80;
        point = lead & 0x1f;
      } else if (lead >= 0xe0 && lead <= 0xef) {
        need = 2;
        min = 0x800;
        point = lead & 0x0f;
      } else if (lead >= 0xf0 && lead <= 0xf4) {
        need = 3;
        min = 0x10000;
        point = lead & 0x07;
      } else {
        throw new Utf8Error(`byte 0x${lead.toString(16)} at ${i} cannot start a UTF-8 sequence`);
      }
      if (i + need >= bytes.length) {
        throw new Utf8Error(`truncated UTF-8 sequence at ${i}`);
      }
      for (let k = 1; k <= need; k++) {
        const next = bytes[i + k]!;
        if ((next & 0xc0) !== 0x80) throw new Utf8Error(`bad UTF-8 continuation byte at ${i + k}`);
        point = (point << 6) | (next & 0x3f);
      }
      if (point < min || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) {
        throw new Utf8Error(`invalid UTF-8 sequence at ${i} (U+${point.toString(16)})`);
      }
      i += need + 1;
    }
    if (point > 0xffff) {
      point -= 0x10000;
      units.push(0xd800 + (point >> 10), 0xdc00 + (point & 0x3ff));
    } else {
      units.push(point);
    }
    if (units.length >= CHUNK) {
      parts.push(String.fromCharCode(...units));
      units.length = 0;
    }
  }
  parts.push(String.fromCharCode(...units));
  return parts.join('');
}
