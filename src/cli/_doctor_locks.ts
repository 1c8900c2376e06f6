/**
 * doctor's lock check: a scope's lock file (`<state dir>/.locks/`) held by
 * a process that stopped (Ctrl-Z, SIGSTOP, a debugger) or hangs. A writer
 * holds a lock for microseconds; while one is stuck, every write to that
 * scope in every process waits 10 s and then fails (_lock.ts). The OS drops
 * the lock of a process that dies, so only a live process can hold one.
 *
 * Each lock file is tried without waiting; the busy ones again for
 * `heldMs`. One still busy then is stuck. On Linux its holder is named from
 * /proc/locks, with whether it is stopped; Deno lets a program read /proc
 * only with --allow-all, so under the server's permissions the finding
 * says how to find the holder instead (fuser, lsof).
 */
import { join } from "node:path";
import { fileNameToScope, LEGACY_FILE_SUFFIX } from "../storage/file/names.ts";
import { type CheckResult, finding } from "./_check.ts";

/** How long a lock must stay held to count as stuck, by default. */
export const LOCK_HELD_MS = 2_000;
const RETRY_MS = 200;

/** The process holding a lock, as /proc tells. */
export interface LockHolder {
  pid: number;
  /** The process's name (comm), if readable. */
  name: string | null;
  /** Stopped by a signal or a debugger (state T or t). */
  stopped: boolean;
}

/** Checks every lock file of a state directory (needs read access to it). */
export async function checkLocks(
  basePath: string,
  heldMs: number = LOCK_HELD_MS,
): Promise<CheckResult[]> {
  const dir = join(basePath, ".locks");
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".lock")) names.push(entry.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return [finding("locks", "ok", `no lock files yet in ${dir}`)];
    }
    return [finding("locks", "warning", `cannot list ${dir}: ${(err as Error).message}`)];
  }
  names.sort();
  const results: CheckResult[] = [];
  let busy: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const info = await Deno.lstat(path).catch(() => null);
    if (info === null) continue; // removed meanwhile
    if (!info.isFile) {
      results.push(finding(
        "locks",
        "problem",
        `${path} is ${info.isSymlink ? "a symbolic link" : "not a regular file"}: writes to scope ${
          scopeOf(name)
        } fail with CORRUPT_STATE`,
        `remove it (rm ${JSON.stringify(path)}); the next write makes a new one`,
      ));
    } else if (!tryHold(path)) {
      busy.push(name);
    }
  }
  // Busy now is normal (a write in progress); busy for heldMs straight is not.
  const deadline = performance.now() + heldMs;
  while (busy.length > 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, RETRY_MS));
    busy = busy.filter((name) => !tryHold(join(dir, name)));
  }
  for (const name of busy) {
    const path = join(dir, name);
    const holder = await findHolder(path);
    const who = holder === null
      ? "another process"
      : `pid ${holder.pid}${holder.name ? ` (${holder.name})` : ""}${
        holder.stopped ? ", which is STOPPED," : ""
      }`;
    results.push(finding(
      "locks",
      "problem",
      `${path} (scope ${scopeOf(name)}) has been held for over ${
        heldMs / 1000
      } s by ${who}: every write to that scope waits 10 s, then fails with STORAGE_UNAVAILABLE`,
      holder === null
        ? `find the process holding it (fuser -v ${
          JSON.stringify(path)
        }, or lsof), then resume it (kill -CONT PID) if it is stopped, or end it`
        : holder.stopped
        ? `resume it (kill -CONT ${holder.pid}) or end it (kill ${holder.pid})`
        : `end it if it hangs (kill ${holder.pid}); the OS then drops the lock`,
    ));
  }
  if (results.length === 0) {
    const files = `${names.length} lock file${names.length === 1 ? "" : "s"}`;
    results.push(finding("locks", "ok", `${files} in ${dir}, none held`));
  }
  return results;
}

/** Takes and drops the lock at once; false when another process holds it. */
function tryHold(path: string): boolean {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return true; // removed meanwhile: nobody holds it
  }
  try {
    const got = file.tryLockSync(true);
    if (got) file.unlockSync();
    return got;
  } finally {
    file.close();
  }
}

/** The scope a lock file belongs to (named after the scope's format-1 file). */
function scopeOf(lockName: string): string {
  const name = lockName.slice(0, -".lock".length);
  return fileNameToScope(name, LEGACY_FILE_SUFFIX) ?? `(hashed name ${name})`;
}

/**
 * The holder of a flock on `path`, from /proc/locks (Linux); null elsewhere,
 * without --allow-all (Deno's rule for /proc), or when it does not say
 * (another pid namespace shows pid 0 or none).
 */
export async function findHolder(path: string): Promise<LockHolder | null> {
  let table: string;
  let ino: number | null;
  try {
    [table, ino] = await Promise.all([
      Deno.readTextFile("/proc/locks"),
      Deno.stat(path).then((s) => s.ino),
    ]);
  } catch {
    return null;
  }
  if (ino === null) return null;
  for (const line of table.split("\n")) {
    // "1: FLOCK  ADVISORY  WRITE 4242 00:2f:1234567 0 EOF"; "->" lines are waiters.
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== "FLOCK") continue;
    const pid = Number(fields[4]);
    const fileIno = Number(fields[5]?.split(":")[2]);
    if (fileIno !== ino || !Number.isSafeInteger(pid) || pid <= 0) continue;
    return { pid, ...await processState(pid) };
  }
  return null;
}

/** A process's name and whether it is stopped, from /proc/<pid>/stat. */
async function processState(pid: number): Promise<{ name: string | null; stopped: boolean }> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // "4242 (deno) T ...": the name may hold spaces and parentheses; the state follows the last ")".
    const close = stat.lastIndexOf(")");
    const state = stat.slice(close + 2, close + 3);
    return {
      name: stat.slice(stat.indexOf("(") + 1, close),
      stopped: state === "T" || state === "t",
    };
  } catch {
    return { name: null, stopped: false };
  }
}
