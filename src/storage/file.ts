/**
 * The local file adapter ("local"), the embedded default: one JSON file per
 * scope directly inside a state directory, written atomically under an OS
 * lock so that several processes on one machine can share it safely.
 *
 * A scope file looks like:
 *   {"format": 1, "scope": "proj:x", "data": {"<key>": <value>},
 *    "metadata": {"seq": 7, "created_at": "<iso>", "updated_at": "<iso>",
 *      "keys": {"<key>": {"version": 7, "updated_at": "<iso>",
 *        "updated_by": "claude_1" | null, "expires_at": "<iso>" | null}}}}
 * `seq` is the scope's version counter: each write sets the key's version to
 * ++seq, so versions never repeat within a scope, not even after a delete and
 * re-create. Deleting the last key keeps the file (and its seq); only
 * deleteScope removes it, which restarts versions.
 */
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { CoordinatorError, invalidArgument } from "../errors.ts";
import { isPlainObject, type JsonValue } from "../json.ts";
import {
  fileNameToScope,
  globToRegExp,
  isHashedFileName,
  type Scope,
  scopeToFileName,
  validateKey,
  validateScope,
} from "../scope.ts";
import type {
  AdapterLimits,
  DeleteOptions,
  Entry,
  ExportedKey,
  StorageAdapter,
  StoreOptions,
  StoreResult,
} from "./contract.ts";
import type { AdapterFactory } from "./registry.ts";
import { checkIfVersion, encodeValue, expiryFromTtl, versionConflict } from "./values.ts";
import {
  createKeyedMutex,
  ioUnavailable,
  removeFileDurably,
  replaceFileAtomically,
  sweepStaleTempFiles,
  withFileLock,
} from "./_file_io.ts";

/** Options of createFileAdapter. */
export interface FileAdapterOptions {
  /** Absolute path of the state directory; created when missing. */
  basePath: string;
  limits: AdapterLimits;
  /** Clock in epoch milliseconds, for expiry; Date.now by default. */
  now?: () => number;
}

/** The state directory used when the config names none, relative to the project root. */
export const DEFAULT_BASE_PATH = ".claude/session-state";

/** The on-disk format version this code reads and writes. */
const FORMAT = 1;
/** Where the per-scope lock files live, inside the state directory. */
const LOCK_DIR = ".locks";
/** How many scope files listScopes reads at once. */
const LIST_BATCH = 32;

/** One key as held in memory. */
interface StoredKey {
  value: JsonValue;
  version: number;
  updatedAt: string;
  updatedBy: string | null;
  expiresAt: string | null;
  /** expiresAt in epoch ms, parsed once. */
  expiresMs: number | null;
}

/** One scope file as held in memory. A Map, so keys like "__proto__" are plain data. */
interface ScopeState {
  seq: number;
  createdAt: string;
  updatedAt: string;
  keys: Map<string, StoredKey>;
}

/** Creates the local file adapter over an absolute state directory. */
export async function createFileAdapter(options: FileAdapterOptions): Promise<StorageAdapter> {
  const { limits } = options;
  const now = options.now ?? Date.now;
  if (!isAbsolute(options.basePath)) {
    throw new CoordinatorError(
      "CONFIG_INVALID",
      `storage.config.base_path: ${
        JSON.stringify(options.basePath)
      } must be an absolute path here.`,
      { base_path: options.basePath },
    );
  }
  const basePath = resolve(options.basePath);
  const lockDir = join(basePath, LOCK_DIR);
  try {
    await Deno.mkdir(lockDir, { recursive: true });
  } catch (err) {
    throw ioUnavailable(basePath, "create the state directory", err);
  }

  const lockPathOf = (fileName: string) => join(lockDir, fileName + ".lock");
  await sweepStaleTempFiles(basePath, lockPathOf);

  const mutex = createKeyedMutex();
  let closed = false;

  function ensureOpen(): void {
    if (closed) {
      throw new CoordinatorError("STORAGE_UNAVAILABLE", "adapter is closed.", { adapter: "local" });
    }
  }

  const isLive = (stored: StoredKey, nowMs: number) =>
    stored.expiresMs === null || stored.expiresMs > nowMs;

  /** Reads a scope's state without a lock; rename makes every read see a whole file. */
  async function readScope(scope: Scope, fileName: string): Promise<ScopeState | null> {
    const file = join(basePath, fileName);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      if (err instanceof Deno.errors.IsADirectory) throw corrupt(file, "is a directory.");
      throw ioUnavailable(file, "read the state file", err);
    }
    return parseScopeFile(file, bytes, scope).state;
  }

  /**
   * Runs a read-modify-write of one scope: serialized in this process, then
   * under the scope's OS lock. `change` returns the new state, "remove" to
   * delete the file, or null when nothing needs writing.
   */
  function mutate<T>(
    scope: Scope,
    change: (state: ScopeState | null, nowMs: number) => {
      next: ScopeState | "remove" | null;
      result: T;
    },
  ): Promise<T> {
    ensureOpen();
    const fileName = scopeToFileName(scope);
    return mutex.run(fileName, () =>
      withFileLock(lockPathOf(fileName), async () => {
        const state = await readScope(scope, fileName);
        const nowMs = now();
        const { next, result } = change(state, nowMs);
        if (next === "remove") {
          await removeFileDurably(basePath, fileName);
        } else if (next !== null) {
          await replaceFileAtomically(basePath, fileName, serializeScope(scope, next));
        }
        return result;
      }));
  }

  /** Drops expired keys; true when any was dropped (so the file needs rewriting). */
  function purgeExpired(state: ScopeState, nowMs: number): boolean {
    let purged = false;
    for (const [key, stored] of state.keys) {
      if (!isLive(stored, nowMs)) {
        state.keys.delete(key);
        purged = true;
      }
    }
    return purged;
  }

  async function liveEntries(scope: Scope): Promise<ExportedKey[]> {
    const state = await readScope(scope, scopeToFileName(scope));
    if (state === null) return [];
    const nowMs = now();
    const out: ExportedKey[] = [];
    for (const [key, stored] of state.keys) {
      if (isLive(stored, nowMs)) out.push({ key, entry: toEntry(stored) });
    }
    return out.sort((a, b) => compareStrings(a.key, b.key));
  }

  /** The scope a directory entry holds, or null for foreign and unreadable files. */
  async function scopeOfFile(
    name: string,
    matches: (scope: string) => boolean,
    nowMs: number,
  ): Promise<string | null> {
    const readable = fileNameToScope(name);
    if (readable === null && !isHashedFileName(name)) return null; // not ours
    // Filtering by name first spares reading files the pattern excludes.
    if (readable !== null && !matches(readable)) return null;
    const file = join(basePath, name);
    let parsed: ParsedFile;
    try {
      parsed = parseScopeFile(file, await Deno.readFile(file), readable);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null; // deleted meanwhile
      // A corrupt file with a readable name is listed so the user sees the
      // scope (and meets CORRUPT_STATE when reading it); a hashed one cannot
      // say which scope it holds, so it is skipped.
      return readable;
    }
    const scope = parsed.scope;
    if (readable === null && (scopeToFileName(scope) !== name || !matches(scope))) return null;
    for (const stored of parsed.state.keys.values()) {
      if (isLive(stored, nowMs)) return scope;
    }
    return null;
  }

  return {
    name: "local",

    async store(scope, key, value: JsonValue, options: StoreOptions = {}): Promise<StoreResult> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      // Copied out, so a caller changing its options object meanwhile changes nothing.
      const { ifVersion, ttlSeconds } = options;
      const updatedBy = options.updatedBy ?? null;
      checkIfVersion(ifVersion);
      expiryFromTtl(ttlSeconds, 0); // validates early, before taking any lock
      if (updatedBy !== null && typeof updatedBy !== "string") {
        throw invalidArgument("updated_by must be a string or null.");
      }
      const text = encodeValue(value, limits);
      return await mutate(s, (state, nowMs) => {
        const next = state ?? emptyState(nowMs);
        purgeExpired(next, nowMs);
        const current = next.keys.get(key)?.version ?? 0;
        if (ifVersion !== undefined && ifVersion !== current) {
          throw versionConflict(s, key, ifVersion, current);
        }
        const expiresMs = expiryFromTtl(ttlSeconds, nowMs);
        const stored: StoredKey = {
          // A fresh parse, so later changes to the caller's object cannot leak in.
          value: JSON.parse(text),
          version: ++next.seq,
          updatedAt: new Date(nowMs).toISOString(),
          updatedBy,
          expiresAt: expiresMs === null ? null : new Date(expiresMs).toISOString(),
          expiresMs,
        };
        next.keys.set(key, stored);
        next.updatedAt = stored.updatedAt;
        return {
          next,
          result: {
            version: stored.version,
            updatedAt: stored.updatedAt,
            expiresAt: stored.expiresAt,
          },
        };
      });
    },

    async retrieve(scope, key): Promise<Entry | null> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      const state = await readScope(s, scopeToFileName(s));
      const stored = state?.keys.get(key);
      return stored && isLive(stored, now()) ? toEntry(stored) : null;
    },

    async delete(scope, key, options: DeleteOptions = {}): Promise<boolean> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      const { ifVersion } = options;
      checkIfVersion(ifVersion);
      return await mutate(s, (state, nowMs) => {
        const purged = state !== null && purgeExpired(state, nowMs);
        const current = state?.keys.get(key)?.version ?? 0;
        if (ifVersion !== undefined && ifVersion !== current) {
          throw versionConflict(s, key, ifVersion, current);
        }
        // No file: nothing to delete, and nothing to create either.
        if (state === null) return { next: null, result: false };
        const deleted = state.keys.delete(key);
        if (deleted) state.updatedAt = new Date(nowMs).toISOString();
        return { next: deleted || purged ? state : null, result: deleted };
      });
    },

    async listKeys(scope): Promise<string[]> {
      ensureOpen();
      return (await liveEntries(validateScope(scope))).map((e) => e.key);
    },

    async listEntries(scope): Promise<ExportedKey[]> {
      ensureOpen();
      return await liveEntries(validateScope(scope));
    },

    async listScopes(pattern?: string): Promise<string[]> {
      ensureOpen();
      const regex = pattern === undefined ? null : globToRegExp(pattern);
      const matches = (scope: string) => regex === null || regex.test(scope);
      const names: string[] = [];
      try {
        for await (const entry of Deno.readDir(basePath)) {
          // Dot-files are temp files and the lock directory; never scopes.
          if (!entry.isDirectory && !entry.name.startsWith(".")) names.push(entry.name);
        }
      } catch (err) {
        throw ioUnavailable(basePath, "list the state directory", err);
      }
      const nowMs = now();
      const scopes: string[] = [];
      // A few files at a time: one open handle per scope file could exhaust
      // the process's file descriptors in a large state directory.
      for (let i = 0; i < names.length; i += LIST_BATCH) {
        const batch = names.slice(i, i + LIST_BATCH);
        for (const scope of await Promise.all(batch.map((n) => scopeOfFile(n, matches, nowMs)))) {
          if (scope !== null) scopes.push(scope);
        }
      }
      return scopes.sort(compareStrings);
    },

    async restore(scope, key, entry: Entry): Promise<boolean> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      const restored = checkRestoredEntry(entry, limits);
      return await mutate(s, (state, nowMs) => {
        if (!isLive(restored, nowMs)) return { next: null, result: false };
        const next = state ?? emptyState(nowMs);
        purgeExpired(next, nowMs);
        next.keys.set(key, restored);
        // Later writes must get versions above every restored one.
        next.seq = Math.max(next.seq, restored.version);
        next.updatedAt = new Date(nowMs).toISOString();
        return { next, result: true };
      });
    },

    async deleteScope(scope): Promise<boolean> {
      ensureOpen();
      const s = validateScope(scope);
      return await mutate(s, (state, nowMs) => {
        if (state === null) return { next: null, result: false };
        const hadLive = [...state.keys.values()].some((k) => isLive(k, nowMs));
        return { next: "remove", result: hadLive };
      });
    },

    async close(): Promise<void> {
      closed = true;
      // Let running writes finish, so their lock handles are released and
      // no temp file is left half-written by our own shutdown.
      await mutex.idle();
    },
  };
}

/** Builds the local adapter from `storage.config`; see DEFAULT_BASE_PATH. */
export const fileAdapterFactory: AdapterFactory = (config, context) => {
  const parsed = FileConfigSchema.safeParse(config ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const unknown = issue.code === "unrecognized_keys" ? issue.keys : [];
    const path = unknown.length > 0 ? unknown[0] : issue.path.map(String).join(".");
    const field = path === "" ? "storage.config" : `storage.config.${path}`;
    const what = unknown.length > 0
      ? `unknown field (the local adapter accepts only base_path).`
      : path === ""
      ? "must be an object."
      : issue.message;
    return Promise.reject(
      new CoordinatorError("CONFIG_INVALID", `${field}: ${what}`, {
        field,
        issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
      }),
    );
  }
  const basePath = resolve(context.projectRoot, parsed.data.base_path);
  return createFileAdapter({ basePath, limits: context.limits });
};

const FileConfigSchema = z.strictObject({
  base_path: z
    .string({ error: "must be a string (a directory path)." })
    .min(1, { error: "must not be empty." })
    .refine((p) => !p.includes("\0"), { error: "must not contain a NUL character." })
    .default(DEFAULT_BASE_PATH),
});

function emptyState(nowMs: number): ScopeState {
  const at = new Date(nowMs).toISOString();
  return { seq: 0, createdAt: at, updatedAt: at, keys: new Map() };
}

/** Validates an exported entry handed to restore; INVALID_ARGUMENT names the bad field. */
function checkRestoredEntry(entry: Entry, limits: AdapterLimits): StoredKey {
  if (!isPlainObject(entry)) throw invalidArgument("entry must be an object.");
  const { version, updatedAt, updatedBy, expiresAt } = entry;
  if (!Number.isSafeInteger(version) || version < 1) {
    throw invalidArgument(`entry.version must be an integer >= 1, got ${version}.`);
  }
  if (typeof updatedAt !== "string" || Number.isNaN(Date.parse(updatedAt))) {
    throw invalidArgument(`entry.updatedAt must be an ISO time, got ${JSON.stringify(updatedAt)}.`);
  }
  if (updatedBy !== null && typeof updatedBy !== "string") {
    throw invalidArgument("entry.updatedBy must be a string or null.");
  }
  const expiresMs = expiresAt === null
    ? null
    : typeof expiresAt === "string"
    ? Date.parse(expiresAt)
    : NaN;
  if (expiresMs !== null && Number.isNaN(expiresMs)) {
    throw invalidArgument(
      `entry.expiresAt must be an ISO time or null, got ${JSON.stringify(expiresAt)}.`,
    );
  }
  // A fresh parse of the checked text, so the caller's object is not shared.
  const value = JSON.parse(encodeValue(entry.value, limits));
  return { value, version, updatedAt, updatedBy, expiresAt, expiresMs };
}

function toEntry(stored: StoredKey): Entry {
  return {
    value: stored.value,
    version: stored.version,
    updatedAt: stored.updatedAt,
    updatedBy: stored.updatedBy,
    expiresAt: stored.expiresAt,
  };
}

/** Plain code-unit order, the same as Array.prototype.sort without a comparator. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Writes a scope file with one line per key (values compact on their line):
 * a person can read and diff it, and it stays about half the size of fully
 * indented JSON, which every read and write parses whole.
 */
function serializeScope(scope: string, state: ScopeState): string {
  const keys = [...state.keys.keys()].sort(compareStrings);
  const j = JSON.stringify;
  const object = (lines: string[], indent: string) =>
    lines.length === 0 ? "{}" : `{\n${lines.join(",\n")}\n${indent}}`;
  const data = keys.map((k) => `    ${j(k)}: ${j(state.keys.get(k)!.value)}`);
  const meta = keys.map((k) => {
    const s = state.keys.get(k)!;
    const fields = {
      version: s.version,
      updated_at: s.updatedAt,
      updated_by: s.updatedBy,
      expires_at: s.expiresAt,
    };
    return `      ${j(k)}: ${j(fields)}`;
  });
  return [
    "{",
    `  "format": ${FORMAT},`,
    `  "scope": ${j(scope)},`,
    `  "data": ${object(data, "  ")},`,
    `  "metadata": {`,
    `    "seq": ${state.seq},`,
    `    "created_at": ${j(state.createdAt)},`,
    `    "updated_at": ${j(state.updatedAt)},`,
    `    "keys": ${object(meta, "    ")}`,
    "  }",
    "}",
    "",
  ].join("\n");
}

interface ParsedFile {
  scope: Scope;
  state: ScopeState;
}

function corrupt(file: string, what: string): CoordinatorError {
  return new CoordinatorError("CORRUPT_STATE", `${file}: ${what}`, { file });
}

/**
 * Parses and checks a scope file. `expectedScope` is the scope its name says
 * it holds (null for a hashed name, where only the file knows). Every
 * inconsistency is CORRUPT_STATE naming the file: guessing would risk handing
 * out a version twice or writing over data a person could still recover.
 */
function parseScopeFile(file: string, bytes: Uint8Array, expectedScope: string | null): ParsedFile {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw corrupt(file, "is not valid UTF-8 text.");
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw corrupt(file, `is not valid JSON (${(err as Error).message}).`);
  }
  if (!isPlainObject(doc)) throw corrupt(file, "does not hold a JSON object.");
  if (doc.format !== FORMAT) {
    throw corrupt(
      file,
      `has format ${JSON.stringify(doc.format)}; this version reads format ${FORMAT}.`,
    );
  }
  const scope = doc.scope;
  if (typeof scope !== "string") throw corrupt(file, `"scope" is not a string.`);
  if (expectedScope !== null && scope !== expectedScope) {
    throw corrupt(
      file,
      `holds scope ${JSON.stringify(scope)}, but its name is that of ${
        JSON.stringify(expectedScope)
      }.`,
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
  const state: ScopeState = {
    seq: seq as number,
    createdAt: created_at,
    updatedAt: updated_at,
    keys: new Map(),
  };
  for (const key of Object.keys(keys)) {
    if (!Object.hasOwn(data, key)) {
      throw corrupt(file, `key ${JSON.stringify(key)} has metadata but no value in "data".`);
    }
  }
  for (const [key, value] of Object.entries(data)) {
    const meta = Object.hasOwn(keys, key) ? keys[key] : undefined;
    const where = `"metadata.keys[${JSON.stringify(key)}]"`;
    if (!isPlainObject(meta)) throw corrupt(file, `${where} is missing or not an object.`);
    const { version, updated_at: at, updated_by: by, expires_at: exp } = meta;
    if (
      !Number.isSafeInteger(version) || (version as number) < 1 || (version as number) > state.seq
    ) {
      throw corrupt(file, `${where}.version is not an integer between 1 and metadata.seq.`);
    }
    if (typeof at !== "string") throw corrupt(file, `${where}.updated_at is not a string.`);
    if (by !== null && typeof by !== "string") {
      throw corrupt(file, `${where}.updated_by is not a string or null.`);
    }
    const expiresMs = exp === null ? null : typeof exp === "string" ? Date.parse(exp) : NaN;
    if (expiresMs !== null && Number.isNaN(expiresMs)) {
      throw corrupt(file, `${where}.expires_at is not an ISO time or null.`);
    }
    state.keys.set(key, {
      value: value as JsonValue,
      version: version as number,
      updatedAt: at,
      updatedBy: by,
      expiresAt: exp as string | null,
      expiresMs,
    });
  }
  return { scope: scope as Scope, state };
}
