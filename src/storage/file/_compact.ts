/**
 * Compacting every log of a state directory at once (the `compact` admin
 * command). Writers compact a log by themselves once it has grown well past
 * its live keys (_write.ts); this does it now for all of them, e.g. before
 * a backup or after a burst of short-lived claims, one scope at a time
 * under that scope's locks, so servers may keep running meanwhile.
 */
import { join } from "node:path";
import { formatError, isCoordinatorError } from "../../core/errors.ts";
import type { Scope } from "../../core/scope.ts";
import type { FileContext } from "./_context.ts";
import { ioUnavailable } from "./_errors.ts";
import { scopeOfFileName } from "./_list.ts";
import { compactNow } from "./_write.ts";
import { LOG_FILE_SUFFIX } from "./names.ts";

/** One log compaction: the scope, its file, and its size before and after. */
export interface CompactedLog {
  scope: string;
  file: string;
  bytes_before: number;
  bytes_after: number;
}

/** What compacting a state directory did. */
export interface CompactReport {
  /** Logs that were rewritten smaller. */
  compacted: CompactedLog[];
  /** Logs already compact, left as they were. */
  unchanged: number;
  /** Logs that could not be compacted, each with the error (the others still were). */
  failed: { file: string; error: string }[];
}

/** Compacts every log in the state directory; one bad log does not stop the others. */
export async function compactAll(ctx: FileContext): Promise<CompactReport> {
  ctx.ensureOpen();
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(ctx.basePath)) {
      // Dot-files are temp files and the lock directory, never logs.
      if (entry.isFile && !entry.name.startsWith(".") && entry.name.endsWith(LOG_FILE_SUFFIX)) {
        names.push(entry.name);
      }
    }
  } catch (err) {
    throw ioUnavailable(ctx.basePath, "list the state directory", err);
  }
  names.sort();
  const report: CompactReport = { compacted: [], unchanged: 0, failed: [] };
  for (const file of names) {
    const scope = scopeOfFileName(ctx, file);
    if (typeof scope !== "string") {
      report.failed.push({ file, error: "its scope cannot be read from its name or header" });
      continue;
    }
    try {
      const outcome = await compactNow(ctx, ctx.files(scope as Scope));
      if (outcome === null) continue; // removed meanwhile
      if (!outcome.compacted) {
        report.unchanged++;
      } else {
        report.compacted.push({
          scope,
          file,
          bytes_before: outcome.bytesBefore,
          bytes_after: outcome.bytesAfter,
        });
      }
    } catch (err) {
      const error = isCoordinatorError(err)
        ? formatError(err)
        : `${join(ctx.basePath, file)}: ${err instanceof Error ? err.message : String(err)}`;
      report.failed.push({ file, error });
    }
  }
  return report;
}
