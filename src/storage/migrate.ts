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
}

/** Counts a copy reports and verifies. */
export interface CopyReport {
  scopes: number;
  keys: number;
  /** Keys that expired between reading and writing, so were not copied. */
  skipped_expired: number;
  /** Keys whose value and version were read back from the target and matched. */
  verified: number;
  mismatched: string[];
}

function toBackupEntry(e: Entry): BackupEntry {
  return {
    value: e.value,
    version: e.version,
    updated_at: e.updatedAt,
    updated_by: e.updatedBy,
    expires_at: e.expiresAt,
  };
}

function fromBackupEntry(e: BackupEntry): Entry {
  return {
    value: e.value,
    version: e.version,
    updatedAt: e.updated_at,
    updatedBy: e.updated_by,
    expiresAt: e.expires_at,
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
        !(e.expires_at === null || typeof e.expires_at === "string")
      ) {
        throw bad(
          `${scope} / ${key}: needs value, version >= 1, updated_at, updated_by, expires_at`,
        );
      }
    }
  }
  return raw as unknown as BackupFile;
}

/** Writes a backup into the target and reads every key back to verify it. */
export async function importAll(target: StorageAdapter, backup: BackupFile): Promise<CopyReport> {
  const report: CopyReport = {
    scopes: 0,
    keys: 0,
    skipped_expired: 0,
    verified: 0,
    mismatched: [],
  };
  for (const [scope, keys] of Object.entries(backup.scopes)) {
    report.scopes++;
    for (const [key, e] of Object.entries(keys)) {
      const written = await target.restore(scope, key, fromBackupEntry(e));
      if (!written) {
        report.skipped_expired++;
        continue;
      }
      report.keys++;
      const back = await target.retrieve(scope, key);
      if (
        back && back.version === e.version && JSON.stringify(back.value) === JSON.stringify(e.value)
      ) {
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
export async function migrate(source: StorageAdapter, target: StorageAdapter): Promise<CopyReport> {
  return importAll(target, await exportAll(source));
}
