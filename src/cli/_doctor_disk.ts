/**
 * doctor's disk check: free space on the file system of the local state
 * directory. A full disk fails every write (STORAGE_UNAVAILABLE), and a
 * compaction needs room for a whole copy of a log. Reading it needs
 * `--allow-sys=statfs`; without it the check is skipped with a warning.
 */
import { statfs } from "node:fs/promises";
import { dirname } from "node:path";
import { type CheckResult, finding } from "./_check.ts";
import { bytes } from "./_format.ts";

/** The least free space doctor accepts by default: 100 MiB. */
export const DEFAULT_MIN_FREE_BYTES = 100 * 1024 * 1024;

/** Checks free space for `dir` (or its nearest existing parent, before it is created). */
export async function checkDisk(dir: string, minFree: number): Promise<CheckResult> {
  let at = dir;
  while (!await Deno.stat(at).then(() => true, () => false)) {
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  let free: number;
  try {
    const fs = await statfs(at);
    // bavail, not bfree: what an unprivileged writer may still use.
    free = Number(fs.bavail) * Number(fs.bsize);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) {
      return finding(
        "disk",
        "warning",
        `not checked: reading free space needs --allow-sys=statfs`,
        "run doctor with --allow-sys=hostname,statfs to check free space too",
      );
    }
    return finding("disk", "warning", `cannot read free space of ${at}: ${(err as Error).message}`);
  }
  const detail = `${bytes(free)} free on the file system of ${dir} (minimum ${bytes(minFree)})`;
  if (free >= minFree) return finding("disk", "ok", detail);
  return finding(
    "disk",
    "problem",
    `only ${detail}: writes fail with STORAGE_UNAVAILABLE once it is full`,
    "free space on that file system, or move storage.config.base_path to another; --min-free-mb N sets the minimum",
  );
}
