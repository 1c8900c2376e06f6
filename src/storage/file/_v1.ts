/**
 * On-disk format 1 of the local file adapter, read only so that existing
 * state directories keep working: one JSON document per scope,
 * `<encoded scope>.json`, rewritten whole on every write by earlier versions:
 *
 *   {"format": 1, "scope": "proj:x", "data": {"<key>": <value>},
 *    "metadata": {"seq": 7, "created_at": "<iso>", "updated_at": "<iso>",
 *      "keys": {"<key>": {"version": 7, "updated_at": "<iso>",
 *        "updated_by": "claude_1" | null, "expires_at": "<iso>" | null}}}}
 *
 * The adapter converts such a file into a format-2 log on the scope's first write.
 */
import { isPlainObject, type JsonValue } from "../../core/json.ts";
import { type Scope, validateScope } from "../../core/scope.ts";
import { corrupt, type StoredKey } from "./_log.ts";

/** The format-1 version number. */
export const LEGACY_FORMAT = 1;

/** A parsed format-1 file. */
export interface LegacyScope {
  scope: Scope;
  seq: number;
  createdAt: string;
  keys: Map<string, StoredKey>;
}

/**
 * Parses and checks a format-1 scope file. `expectedScope` is the scope its
 * name says it holds (null for a hashed name, where only the file knows).
 * Every inconsistency is CORRUPT_STATE naming the file: guessing would risk
 * handing out a version twice or writing over data a person could still recover.
 */
export function parseLegacyFile(
  file: string,
  bytes: Uint8Array,
  expectedScope: string | null,
): LegacyScope {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw corrupt(file, "is not valid UTF-8 text.");
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the text, and the file may not be ours.
    throw corrupt(file, "is not valid JSON.");
  }
  if (!isPlainObject(doc)) throw corrupt(file, "does not hold a JSON object.");
  if (doc.format !== LEGACY_FORMAT) {
    throw corrupt(file, `has a "format" other than ${LEGACY_FORMAT}, that of a .json scope file.`);
  }
  const scope = doc.scope;
  if (typeof scope !== "string") throw corrupt(file, `"scope" is not a string.`);
  if (expectedScope !== null && scope !== expectedScope) {
    throw corrupt(
      file,
      `holds another scope than ${JSON.stringify(expectedScope)}, the one its name stands for.`,
    );
  }
  try {
    validateScope(scope);
  } catch {
    throw corrupt(file, `"scope" is not a valid scope name.`);
  }
  const { data, metadata } = doc;
  if (!isPlainObject(data)) throw corrupt(file, `"data" is not an object.`);
  if (!isPlainObject(metadata)) throw corrupt(file, `"metadata" is not an object.`);
  const { seq, created_at, updated_at, keys } = metadata;
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) {
    throw corrupt(file, `"metadata.seq" is not an integer >= 0.`);
  }
  if (typeof created_at !== "string" || typeof updated_at !== "string") {
    throw corrupt(file, `"metadata.created_at" and "metadata.updated_at" must be strings.`);
  }
  if (!isPlainObject(keys)) throw corrupt(file, `"metadata.keys" is not an object.`);
  const parsed: LegacyScope = {
    scope: scope as Scope,
    seq: seq as number,
    createdAt: created_at,
    keys: new Map(),
  };
  // Keys are named by their place, never quoted (see _log.ts on file content in errors).
  for (const [i, key] of Object.keys(keys).entries()) {
    if (!Object.hasOwn(data, key)) {
      throw corrupt(file, `key ${i + 1} of "metadata.keys" has no value in "data".`);
    }
  }
  for (const [i, [key, value]] of Object.entries(data).entries()) {
    const meta = Object.hasOwn(keys, key) ? keys[key] : undefined;
    const where = `the metadata of key ${i + 1} of "data"`;
    if (!isPlainObject(meta)) throw corrupt(file, `${where} is missing or not an object.`);
    const { version, updated_at: at, updated_by: by, expires_at: exp } = meta;
    if (
      !Number.isSafeInteger(version) || (version as number) < 1 || (version as number) > parsed.seq
    ) {
      throw corrupt(file, `${where}: "version" is not an integer between 1 and metadata.seq.`);
    }
    if (typeof at !== "string") throw corrupt(file, `${where}: "updated_at" is not a string.`);
    if (by !== null && typeof by !== "string") {
      throw corrupt(file, `${where}: "updated_by" is not a string or null.`);
    }
    const expiresMs = exp === null ? null : typeof exp === "string" ? Date.parse(exp) : NaN;
    if (expiresMs !== null && Number.isNaN(expiresMs)) {
      throw corrupt(file, `${where}: "expires_at" is not an ISO time or null.`);
    }
    parsed.keys.set(key, {
      value: value as JsonValue,
      text: undefined,
      version: version as number,
      updatedAt: at,
      updatedBy: by,
      expiresAt: exp as string | null,
      expiresMs,
      heldBy: null, // format 1 had no holders
      lineBytes: 0,
    });
  }
  return parsed;
}
