/**
 * Copying state between adapters (migrate) and to and from a JSON file
 * (export / import). Entries keep their value, version, timestamps, writer and
 * expiry, so claims and compare-and-set keep working after a move.
 */
import { CoordinatorError } from "../core/errors.ts";
import { isPlainObject, type JsonValue } from "../core/json.ts";
import type { Entry, StorageAdapter } from "./contract.ts";

/** The backup file format. */
export interface BackupFile {
  format: "claude-session-coordinator-backup";
  version: 1;
  exported_at: string;
  scopes: Record<string, Record<string, BackupEntry>>;
}

/** One key in a backup file. */
export interface BackupEntry {
  value: JsonValue;
  version: number;
  updated_at: string;
  updated_by: string | null;
  expires_at: string | null;
  /** The entry's holder tag; absent in backups written before holders existed. */
  held_by?: string | null;
}

/** Options of importAll and migrate. */
export interface CopyOptions {
  /** Replace keys the target already holds with other content (default: refuse, write nothing). */
  overwrite?: boolean;
}

/** The largest backup file import reads. */
const MAX_BACKUP_BYTES = 1024 * 1024 * 1024;

/** Counts a copy reports and verifies. */
export interface CopyReport {
  scopes: number;
  keys: number;
  /** Keys that expired between reading and writing, so were not copied. */
  skipped_expired: number;
  /** Keys whose value and version were read back from the target and matched. */
  verified: number;
  /** Keys the target already held exactly as the backup has them (not written again). */
  unchanged: number;
  mismatched: string[];
}

function toBackupEntry(e: Entry): BackupEntry {
  return {
    value: e.value,
    version: e.version,
    updated_at: e.updatedAt,
    updated_by: e.updatedBy,
    expires_at: e.expiresAt,
    ...(e.heldBy === null ? {} : { held_by: e.heldBy }),
  };
}

function fromBackupEntry(e: BackupEntry): Entry {
  return {
    value: e.value,
    version: e.version,
    updatedAt: e.updated_at,
    updatedBy: e.updated_by,
    expiresAt: e.expires_at,
    heldBy: e.held_by ?? null,
  };
}

/** Reads every live key of every scope into a backup document. */
export async function exportAll(source: StorageAdapter, now = Date.now): Promise<BackupFile> {
  const scopes: BackupFile["scopes"] = {};
  for (const scope of await source.listScopes()) {
    const entries = await source.listEntries(scope);
    if (entries.length === 0) continue;
    scopes[scope] = Object.fromEntries(
      entries.map(({ key, entry }) => [key, toBackupEntry(entry)]),
    );
  }
  return {
    format: "claude-session-coordinator-backup",
    version: 1,
    exported_at: new Date(now()).toISOString(),
    scopes,
  };
}

/** Checks a parsed backup file's shape; CONFIG_INVALID names what is wrong. */
export function parseBackup(raw: unknown, file: string): BackupFile {
  const bad = (why: string) =>
    new CoordinatorError("INVALID_ARGUMENT", `${file}: not a backup file: ${why}`, { file });
  if (!isPlainObject(raw) || raw.format !== "claude-session-coordinator-backup") {
    throw bad('"format" must be "claude-session-coordinator-backup"');
  }
  if (raw.version !== 1) throw bad(`unsupported version ${JSON.stringify(raw.version)}`);
  if (!isPlainObject(raw.scopes)) throw bad('"scopes" must be an object');
  for (const [scope, keys] of Object.entries(raw.scopes)) {
    if (!isPlainObject(keys)) throw bad(`scope ${JSON.stringify(scope)} must be an object`);
    for (const [key, e] of Object.entries(keys)) {
      if (
        !isPlainObject(e) || !("value" in e) || !Number.isSafeInteger(e.version) ||
        (e.version as number) < 1 || (e.version as number) >= Number.MAX_SAFE_INTEGER ||
        typeof e.updated_at !== "string" ||
        !(e.updated_by === null || typeof e.updated_by === "string") ||
        !(e.expires_at === null || typeof e.expires_at === "string") ||
        !(e.held_by === undefined || e.held_by === null || typeof e.held_by === "string")
      ) {
        throw bad(
          `${scope} / ${key}: needs value, version >= 1, updated_at, updated_by, expires_at`,
        );
      }
    }
  }
  return raw as unknown as BackupFile;
}

/** Reads a backup file's JSON: a regular file of at most 1 GiB, or INVALID_ARGUMENT. */
export async function readBackupFile(file: string): Promise<unknown> {
  const bad = (why: string) =>
    new CoordinatorError("INVALID_ARGUMENT", `cannot read ${file}: ${why}`, { file });
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (!info.isFile) throw bad("not a regular file.");
  if (info.size > MAX_BACKUP_BYTES) throw bad(`larger than ${MAX_BACKUP_BYTES} bytes.`);
  try {
    return JSON.parse(await Deno.readTextFile(file));
  } catch (err) {
    // The parser's message quotes the file's text: say only where it failed.
    const at = /position \d+|line \d+ column \d+/.exec((err as Error).message)?.[0];
    throw bad(`not valid JSON${at ? ` (at ${at})` : ""}.`);
  }
}

/** The same content: value and version (what a copy must keep). */
function sameContent(a: Entry, b: BackupEntry): boolean {
  return a.version === b.version && JSON.stringify(a.value) === JSON.stringify(b.value);
}

/**
 * Writes a backup into the target and reads every key back to verify it.
 * Keys the target already holds with other content are refused (nothing is
 * written, VERSION_CONFLICT lists them) unless `overwrite`; keys it holds
 * exactly as the backup has them are left alone, so a copy can be re-run.
 */
export async function importAll(
  target: StorageAdapter,
  backup: BackupFile,
  options: CopyOptions = {},
): Promise<CopyReport> {
  const report: CopyReport = {
    scopes: 0,
    keys: 0,
    skipped_expired: 0,
    verified: 0,
    unchanged: 0,
    mismatched: [],
  };
  const same = new Set<string>();
  const conflicts: string[] = [];
  for (const [scope, keys] of Object.entries(backup.scopes)) {
    const present = new Map(
      (await target.listEntries(scope)).map(({ key, entry }) => [key, entry]),
    );
    for (const [key, e] of Object.entries(keys)) {
      const current = present.get(key);
      if (current === undefined) continue;
      if (sameContent(current, e)) same.add(`${scope}\u0000${key}`);
      else {conflicts.push(
          `${scope} / ${key} (version ${current.version} there, ${e.version} in the copy)`,
        );}
    }
  }
  if (conflicts.length > 0 && !options.overwrite) {
    throw new CoordinatorError(
      "VERSION_CONFLICT",
      `the target already holds ${conflicts.length} key(s) with other content: ${
        conflicts.slice(0, 10).join("; ")
      }${
        conflicts.length > 10 ? "; …" : ""
      }. Nothing was written. Pass --overwrite to replace them.`,
      { conflicts: conflicts.slice(0, 100), count: conflicts.length },
    );
  }
  for (const [scope, keys] of Object.entries(backup.scopes)) {
    report.scopes++;
    for (const [key, e] of Object.entries(keys)) {
      if (same.has(`${scope}\u0000${key}`)) {
        report.unchanged++;
        continue;
      }
      const written = await target.restore(scope, key, fromBackupEntry(e));
      if (!written) {
        report.skipped_expired++;
        continue;
      }
      report.keys++;
      const back = await target.retrieve(scope, key);
      if (back && sameContent(back, e)) {
        report.verified++;
      } else if (back || e.expires_at === null || Date.parse(e.expires_at) > Date.now()) {
        report.mismatched.push(`${scope} / ${key}`);
      } else {
        // It expired between the write and the read-back: nothing is wrong.
        report.keys--;
        report.skipped_expired++;
      }
    }
  }
  return report;
}

/** Copies every scope and key from one adapter to another, then verifies. Idempotent. */
export async function migrate(
  source: StorageAdapter,
  target: StorageAdapter,
  options: CopyOptions = {},
): Promise<CopyReport> {
  return importAll(target, await exportAll(source), options);
}
