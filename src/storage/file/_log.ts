/**
 * On-disk format 2 of the local file adapter: one append-only JSON Lines log
 * per scope, `<encoded scope>.jsonl`. Line 1 is a header, every later line one
 * write:
 *
 *   {"format":2,"scope":"proj:x","generation":1,"seq":1760000000000001,"created_at":"<iso>","file_id":"<hex>"}
 *   {"op":"set","key":"k","value":<json>,"version":1760000000000001,"updated_at":"<iso>","updated_by":"claude_1","expires_at":null}
 *   {"op":"set","key":"lease","value":<json>,"version":1760000000000002,"updated_at":"<iso>","updated_by":null,"expires_at":"<iso>","held_by":"claude_1/4f2a"}
 *   {"op":"del","key":"k","at":"<iso>"}
 *   {"op":"batch","ops":[{"op":"set",...},{"op":"del",...}]}
 *
 * Replaying the lines in order gives the scope's keys. The scope's version
 * counter (`seq`) is the largest of the header's `seq` and every version in
 * the log, so a version is never handed out twice, not even after a delete.
 * A scope with no log starts counting at the clock (versionSeed in
 * contract.ts: epoch ms x 1000), so a scope made again after its log was
 * lost (a state directory deleted) never hands out a version it handed out
 * before; a new log is written with its first write, so its header's `seq`
 * is that write's version. A deleteScope replaces the log by a header alone
 * (generation + 1) that keeps the counter.
 *
 * `held_by` (an opaque holder tag, StoreOptions.heldBy) is written only when
 * set; servers before it ignore the field (and drop it when they compact).
 *
 * A `batch` line is one writeBatch: its `ops` are complete `set` and `del`
 * records (never batches), applied together. Being one line, a batch is in
 * the log whole or not at all: a crash can only tear the line, and a torn
 * line is never applied. A batch of one write is written as that write's
 * own line. Servers from before batches cannot read a log that holds a
 * batch line: they fail on it with CORRUPT_STATE (an unknown op) until a
 * current server compacts the log (which folds batches into plain `set`
 * lines) or deletes the scope. So once a current server has written a
 * batch, older servers must not share the state directory.
 *
 * A header is written only when a whole file is (created, compacted,
 * migrated or emptied by deleteScope; always a temp file renamed or linked
 * into place), and its random `file_id`
 * makes the header line unique to that file: a cached reader compares it to
 * tell "the same file, grown" from "a new file under the old name" (inode
 * numbers cannot tell, since a freed inode number is soon handed out again).
 *
 * Bytes after the last newline are an append a crash cut short: they are not
 * a line yet, so they are ignored. A complete line that is not a valid record
 * is CORRUPT_STATE naming the file and the line number, and saying what is
 * wrong without quoting the line: a state file may not be ours (a planted
 * link, a copied file), and its content must not leak into an error.
 *
 * This module only parses and serializes; the adapter's other modules do the I/O.
 */
import { CoordinatorError } from "../../core/errors.ts";
import { isPlainObject, type JsonValue } from "../../core/json.ts";
import { validateKey, validateScope } from "../../core/scope.ts";
import { compareStrings } from "../values.ts";
import { randomHex } from "../../core/random.ts";

/** The on-disk format version of a scope log. */
export const LOG_FORMAT = 2;

/** One key as held in memory. */
export interface StoredKey {
  /** The parsed value, until its text is needed (then dropped for the text). */
  value: JsonValue | undefined;
  /** The value's JSON text, once known. */
  text: string | undefined;
  version: number;
  updatedAt: string;
  updatedBy: string | null;
  expiresAt: string | null;
  /** expiresAt in epoch ms, parsed once. */
  expiresMs: number | null;
  /** The opaque holder tag of the last write, or null. */
  heldBy: string | null;
  /** Bytes of the key's last `set` line (newline included; a share of a batch line): its share of a snapshot. */
  lineBytes: number;
}

/** The fields of a log's first line. */
export interface LogHeader {
  scope: string;
  /** 1 for a new log, one more at every compaction. */
  generation: number;
  /** The scope's version counter when this file was written. */
  seq: number;
  /** When the scope was created (kept through compactions and migration). */
  createdAt: string;
  /** Random, new for every file written: makes the header line unique. */
  fileId: string;
  /** sha256 of the format-1 file this log was converted from, when it was. */
  migratedSha256: string | null;
}

/** A scope log replayed up to some offset. A Map, so keys like "__proto__" are plain data. */
export interface LogState {
  /** Null until line 1 was read. */
  header: LogHeader | null;
  /** The exact bytes of line 1, newline included: the file's identity. */
  headerLine: Uint8Array;
  /** The largest version handed out so far. */
  seq: number;
  keys: Map<string, StoredKey>;
  /** Byte offset just past the last complete line applied. */
  end: number;
  /** Complete lines applied, header included. */
  lines: number;
  /** Header bytes plus every held key's lineBytes: about the size of a snapshot. */
  liveBytes: number;
  /**
   * No held key expires before this (epoch ms; null when none expires). Held
   * keys may have expired since, so liveBytes may count dead keys: compaction
   * checks once this time has passed (see file.ts).
   */
  nextExpiryMs: number | null;
  /**
   * The key names in sorted order, kept while no key comes or goes (a write
   * to an existing key keeps it), so a listing by prefix and limit is a
   * binary search rather than a sort of every key; null when stale.
   */
  sorted: string[] | null;
}

/** A write of one key. */
export interface SetRecord {
  op: "set";
  key: string;
  /** The value's JSON text (a write has it)... */
  text: string | undefined;
  /** ...or the parsed value (a line read back has it). */
  value: JsonValue | undefined;
  version: number;
  updatedAt: string;
  updatedBy: string | null;
  expiresAt: string | null;
  expiresMs: number | null;
  heldBy: string | null;
}

/** A delete of one key. */
export interface DelRecord {
  op: "del";
  key: string;
  at: string;
}

/** Several writes applied together (writeBatch). */
export interface BatchRecord {
  op: "batch";
  ops: (SetRecord | DelRecord)[];
}

/** A write, ready to be appended as one line. */
export type LogRecord = SetRecord | DelRecord | BatchRecord;

const NEWLINE = 0x0a;
const encoder = new TextEncoder();
// ignoreBOM: a U+FEFF at the start of a chunk is data (and then invalid JSON), never dropped.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The CORRUPT_STATE error for a state file, optionally naming a line. */
export function corrupt(file: string, what: string, line?: number): CoordinatorError {
  const where = line === undefined ? "" : `line ${line}: `;
  return new CoordinatorError(
    "CORRUPT_STATE",
    `${file}: ${where}${what}`,
    line === undefined ? { file } : { file, line },
  );
}

/** A state with nothing read yet. */
export function newLogState(): LogState {
  return {
    header: null,
    headerLine: new Uint8Array(0),
    seq: 0,
    keys: new Map(),
    end: 0,
    lines: 0,
    liveBytes: 0,
    nextExpiryMs: null,
    sorted: null,
  };
}

/** A fresh random file id: 16 hex digits. */
export function newFileId(): string {
  return randomHex(8);
}

/** The JSON text of a stored value (serialized again when only the parsed value is held). */
export function textOf(stored: StoredKey): string {
  return stored.text ?? JSON.stringify(stored.value);
}

/**
 * A private copy of a stored value. The text is kept from then on (and the
 * parsed value dropped), so later reads only parse.
 */
export function valueOf(stored: StoredKey): JsonValue {
  if (stored.text === undefined) {
    stored.text = JSON.stringify(stored.value);
    stored.value = undefined;
  }
  return JSON.parse(stored.text);
}

/** Serializes a header line, newline included. */
export function encodeHeader(header: LogHeader): string {
  const fields: Record<string, unknown> = {
    format: LOG_FORMAT,
    scope: header.scope,
    generation: header.generation,
    seq: header.seq,
    created_at: header.createdAt,
    file_id: header.fileId,
  };
  if (header.migratedSha256 !== null) fields.migrated_sha256 = header.migratedSha256;
  return JSON.stringify(fields) + "\n";
}

/** Serializes a record line, newline included. A value is spliced in as the text already checked. */
export function encodeRecord(record: LogRecord): string {
  return encodeObject(record) + "\n";
}

/** One record as a JSON object, fields in a fixed order so lines read well with cat or grep. */
function encodeObject(record: LogRecord): string {
  const j = JSON.stringify;
  if (record.op === "del") return `{"op":"del","key":${j(record.key)},"at":${j(record.at)}}`;
  if (record.op === "batch") return `{"op":"batch","ops":[${record.ops.map(encodeObject)}]}`;
  const value = record.text ?? j(record.value);
  const held = record.heldBy === null ? "" : `,"held_by":${j(record.heldBy)}`;
  return `{"op":"set","key":${j(record.key)},"value":${value},"version":${record.version},` +
    `"updated_at":${j(record.updatedAt)},"updated_by":${j(record.updatedBy)},` +
    `"expires_at":${j(record.expiresAt)}${held}}`;
}

/** Applies one record to a state, as if its line of `lineBytes` bytes had been read. */
export function applyRecord(state: LogState, record: LogRecord, lineBytes: number): void {
  if (record.op === "batch") {
    // Each key's share of the line, for the compaction estimate (see LogState.liveBytes).
    const share = Math.ceil(lineBytes / Math.max(1, record.ops.length));
    for (const op of record.ops) applyOne(state, op, share);
  } else {
    applyOne(state, record, lineBytes);
  }
  state.end += lineBytes;
  state.lines++;
}

function applyOne(state: LogState, record: SetRecord | DelRecord, lineBytes: number): void {
  if (record.op === "del") {
    dropKey(state, record.key);
    return;
  }
  setKey(state, record.key, {
    value: record.text === undefined ? record.value : undefined,
    text: record.text,
    version: record.version,
    updatedAt: record.updatedAt,
    updatedBy: record.updatedBy,
    expiresAt: record.expiresAt,
    expiresMs: record.expiresMs,
    heldBy: record.heldBy,
    lineBytes,
  });
}

function setKey(state: LogState, key: string, stored: StoredKey): void {
  const old = state.keys.get(key);
  if (old === undefined) state.sorted = null; // a new name: the sorted names are stale
  else state.liveBytes -= old.lineBytes;
  state.keys.set(key, stored);
  state.liveBytes += stored.lineBytes;
  const exp = stored.expiresMs;
  if (exp !== null && (state.nextExpiryMs === null || exp < state.nextExpiryMs)) {
    state.nextExpiryMs = exp;
  }
  if (stored.version > state.seq) state.seq = stored.version;
}

function dropKey(state: LogState, key: string): void {
  const old = state.keys.get(key);
  if (old === undefined) return;
  state.keys.delete(key);
  state.liveBytes -= old.lineBytes;
  state.sorted = null;
}

/** The key names of a state in sorted order (kept until a name comes or goes). */
export function sortedKeys(state: LogState): string[] {
  state.sorted ??= [...state.keys.keys()].sort(compareStrings);
  return state.sorted;
}

/**
 * Applies the complete lines of `bytes` (the file's bytes from `state.end`)
 * to `state`, advancing `end` and `lines` past each. Bytes after the last
 * newline are left for a later call. Throws CORRUPT_STATE at the first bad
 * line; the lines before it stay applied, so the state is always that of a
 * prefix of the file.
 */
export function applyLines(state: LogState, file: string, bytes: Uint8Array): void {
  const last = bytes.lastIndexOf(NEWLINE);
  if (last < 0) return;
  let text: string | null;
  try {
    text = decoder.decode(bytes.subarray(0, last + 1));
  } catch {
    text = null; // some line is not UTF-8: decode line by line to say which
  }
  let pos = 0;
  let textPos = 0;
  while (pos <= last) {
    const nl = bytes.indexOf(NEWLINE, pos);
    const lineBytes = bytes.subarray(pos, nl + 1);
    let line: string;
    if (text !== null) {
      const textNl = text.indexOf("\n", textPos);
      line = text.slice(textPos, textNl);
      textPos = textNl + 1;
    } else {
      try {
        line = decoder.decode(lineBytes.subarray(0, lineBytes.length - 1));
      } catch {
        throw corrupt(file, "is not valid UTF-8 text.", state.lines + 1);
      }
    }
    applyLine(state, file, line, lineBytes);
    pos = nl + 1;
  }
}

function applyLine(state: LogState, file: string, line: string, lineBytes: Uint8Array): void {
  const n = state.lines + 1;
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    // Not the parser's message: it quotes the line, and the file may not be ours.
    throw corrupt(file, "is not valid JSON.", n);
  }
  if (!isPlainObject(doc)) throw corrupt(file, "is not a JSON object.", n);
  if (state.header === null) {
    state.header = parseHeader(file, doc);
    state.headerLine = lineBytes.slice();
    state.seq = state.header.seq;
    state.liveBytes = lineBytes.length;
    state.end += lineBytes.length;
    state.lines++;
    return;
  }
  applyRecord(state, parseRecord(file, n, doc), lineBytes.length);
}

function parseHeader(file: string, doc: Record<string, unknown>): LogHeader {
  const bad = (what: string) => corrupt(file, what, 1);
  if (doc.format !== LOG_FORMAT) {
    throw bad(
      doc.format === undefined
        ? `is not a header (it has no "format"); a scope log starts with one.`
        : `has a "format" other than ${LOG_FORMAT}, the one this version reads (a newer ` +
          `version may have written it).`,
    );
  }
  const { scope, generation, seq, created_at, file_id, migrated_sha256 } = doc;
  if (typeof scope !== "string") throw bad(`"scope" is not a string.`);
  try {
    validateScope(scope);
  } catch {
    throw bad(`"scope" is not a valid scope name.`);
  }
  if (!Number.isSafeInteger(generation) || (generation as number) < 1) {
    throw bad(`"generation" is not an integer >= 1.`);
  }
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) throw bad(`"seq" is not an integer >= 0.`);
  if (typeof created_at !== "string") throw bad(`"created_at" is not a string.`);
  if (typeof file_id !== "string") throw bad(`"file_id" is not a string.`);
  if (migrated_sha256 !== undefined && typeof migrated_sha256 !== "string") {
    throw bad(`"migrated_sha256" is not a string.`);
  }
  return {
    scope,
    generation: generation as number,
    seq: seq as number,
    createdAt: created_at,
    fileId: file_id,
    migratedSha256: migrated_sha256 ?? null,
  };
}

function parseRecord(file: string, n: number, doc: Record<string, unknown>): LogRecord {
  const bad = (what: string) => corrupt(file, what, n);
  if (doc.op !== "batch") return parseWrite(bad, doc);
  const { ops } = doc;
  if (!Array.isArray(ops) || ops.length === 0) {
    throw bad(`"ops" of a batch is not a list of writes.`);
  }
  return {
    op: "batch",
    ops: ops.map((op, i) => {
      if (!isPlainObject(op)) throw bad(`write ${i + 1} of the batch is not a JSON object.`);
      return parseWrite((what) => bad(`write ${i + 1} of the batch ${what}`), op);
    }),
  };
}

/**
 * Parses a `set` or `del` record. Messages say which field is wrong, never
 * what it holds (see the module comment).
 */
function parseWrite(
  bad: (what: string) => CoordinatorError,
  doc: Record<string, unknown>,
): SetRecord | DelRecord {
  const { op, key } = doc;
  if (op === undefined) throw bad(`has no "op"; a record's op is "set", "del" or "batch".`);
  if (op !== "set" && op !== "del") {
    throw bad(`has an unknown "op"; a record's op is "set", "del" or "batch".`);
  }
  if (typeof key !== "string") throw bad(`"key" is not a string.`);
  try {
    validateKey(key);
  } catch {
    throw bad(`"key" is not a valid key name.`);
  }
  if (op === "del") {
    if (typeof doc.at !== "string") throw bad(`"at" is not a string.`);
    return { op, key, at: doc.at };
  }
  const { value, version, updated_at, updated_by, expires_at, held_by } = doc;
  if (value === undefined) throw bad(`has no "value".`);
  if (!Number.isSafeInteger(version) || (version as number) < 1) {
    throw bad(`"version" is not an integer >= 1.`);
  }
  if (typeof updated_at !== "string") throw bad(`"updated_at" is not a string.`);
  if (updated_by !== null && typeof updated_by !== "string") {
    throw bad(`"updated_by" is not a string or null.`);
  }
  if (held_by !== undefined && typeof held_by !== "string") {
    throw bad(`"held_by" is not a string.`);
  }
  const expiresMs = expires_at === null
    ? null
    : typeof expires_at === "string"
    ? Date.parse(expires_at)
    : NaN;
  if (expiresMs !== null && Number.isNaN(expiresMs)) {
    throw bad(`"expires_at" is not an ISO time or null.`);
  }
  return {
    op,
    key,
    // The value's text is made again only when it is read or compacted.
    text: undefined,
    value: value as JsonValue,
    version: version as number,
    updatedAt: updated_at,
    updatedBy: updated_by as string | null,
    expiresAt: expires_at as string | null,
    expiresMs,
    heldBy: held_by ?? null,
  };
}

/** A whole log file: the header, then one `set` line per key, sorted by key. */
export interface Snapshot {
  bytes: Uint8Array;
  /** The state the file replays to. */
  state: LogState;
}

/**
 * Serializes a snapshot of `keys` (the caller drops expired ones) under
 * `header`; its `seq` must be at least every key's version.
 */
export function buildSnapshot(header: LogHeader, keys: Iterable<[string, StoredKey]>): Snapshot {
  const state = newLogState();
  const sorted = [...keys].sort((a, b) => compareStrings(a[0], b[0]));
  const chunks: Uint8Array[] = [encoder.encode(encodeHeader(header))];
  state.header = header;
  state.headerLine = chunks[0];
  state.seq = header.seq;
  state.liveBytes = chunks[0].length;
  state.end = chunks[0].length;
  state.lines = 1;
  for (const [key, stored] of sorted) {
    const line = encoder.encode(encodeRecord({ op: "set", key, ...stored, text: textOf(stored) }));
    chunks.push(line);
    setKey(state, key, { ...stored, lineBytes: line.length });
    state.end += line.length;
    state.lines++;
  }
  const bytes = new Uint8Array(state.end);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { bytes, state };
}
