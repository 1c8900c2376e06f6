/**
 * Sorting and prefix matching in the contract's order inside PostgreSQL.
 *
 * The contract sorts keys like JavaScript strings: by UTF-16 code unit.
 * `COLLATE "C"` sorts text by code point instead, which differs for
 * characters above U+FFFF against those from U+E000 to U+FFFF (an emoji
 * sorts before U+FEFF in JavaScript, after it in PostgreSQL). So every key
 * also carries `ord`, its UTF-16 code units as big-endian bytes: bytea
 * compares bytewise, which is exactly code unit order, and a key prefix is
 * a byte prefix, so listing by prefix with a limit is one index range scan.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** The sort key of a string: its UTF-16 code units, big-endian. */
export function sortKey(text: string): Buffer {
  const bytes = Buffer.alloc(text.length * 2);
  for (let i = 0; i < text.length; i++) bytes.writeUInt16BE(text.charCodeAt(i), 2 * i);
  return bytes;
}

/**
 * The sort key range of every string that starts with `prefix`:
 * `lo <= ord < hi`, where `hi` is null when there is no upper bound.
 */
export function prefixRange(prefix: string): { lo: Buffer; hi: Buffer | null } {
  const lo = sortKey(prefix);
  // The smallest byte string above every extension of lo: drop trailing
  // 0xff bytes and increment the last byte left.
  let end = lo.length;
  while (end > 0 && lo[end - 1] === 0xff) end--;
  // Nothing but 0xff bytes (or nothing): whatever sorts above lo extends it.
  if (end === 0) return { lo, hi: null };
  const hi = Buffer.from(lo.subarray(0, end));
  hi[end - 1]++;
  return { lo, hi };
}

/**
 * A LIKE pattern that every scope matching the fnmatch `glob` also matches:
 * its literal start (up to the first `*`, `?` or `[`) followed by `%`, with
 * LIKE's own wildcards escaped. The caller filters the candidates with the
 * glob's real RegExp; this only lets the scopes' index skip the rest.
 */
export function likePrefix(glob: string | undefined): string {
  if (glob === undefined) return "%";
  const cut = glob.search(/[*?[]/);
  const literal = cut < 0 ? glob : glob.slice(0, cut);
  return literal.replace(/[\\%_]/g, "\\$&") + "%";
}
