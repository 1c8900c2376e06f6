/**
 * The per-scope OS locks of the local file adapter: flock on Unix,
 * LockFileEx on Windows.
 */
import { join } from "node:path";
import { CoordinatorError } from "../../core/errors.ts";
import { ioUnavailable } from "./_errors.ts";

/**
 * Runs `job` while holding an exclusive OS lock (flock on Unix, LockFileEx on
 * Windows) on `lockPath`. The OS drops the lock when the process dies, even
 * on SIGKILL, so a crashed writer never blocks the others. The lock file is
 * created when missing and never deleted: a process may be waiting on the
 * old inode, and deleting it would let two writers in at once.
 */
export async function withFileLock<T>(
  lockPath: string,
  job: () => Promise<T>,
  waitMs: number = LOCK_WAIT_MS,
): Promise<T> {
  let handle: Deno.FsFile;
  try {
    handle = openLockFile(lockPath);
  } catch (err) {
    throw ioUnavailable(lockPath, "open the lock file", err);
  }
  let release = true;
  try {
    try {
      if (!handle.tryLockSync(true)) await waitForLock(handle, lockPath, waitMs);
    } catch (err) {
      if (err instanceof CoordinatorError && err.code === "STORAGE_UNAVAILABLE") {
        // waitForLock closes the handle itself once the abandoned wait ends.
        release = false;
        throw err;
      }
      throw ioUnavailable(lockPath, "lock the lock file", err);
    }
    return await job();
  } finally {
    // Closing the handle releases the lock (it is the only handle on this
    // open file description); one call fewer while other writers wait.
    if (release) handle.close();
  }
}

/** How long a writer waits for another process's lock before it gives up. */
export const LOCK_WAIT_MS = 10_000;

/**
 * Waits for the lock, at most `waitMs`. A process that was stopped (SIGSTOP,
 * Ctrl-Z) while it held the lock would otherwise block every writer of the
 * scope in every process. A blocking lock call cannot be cancelled, so an
 * abandoned one closes its handle (releasing the lock) the moment it returns.
 */
async function waitForLock(handle: Deno.FsFile, lockPath: string, waitMs: number) {
  const locked = handle.lock(true).then(() => true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) =>
    timer = setTimeout(() => resolve(false), waitMs)
  );
  const won = await Promise.race([locked, timedOut]).finally(() => clearTimeout(timer));
  if (won) return;
  locked.then(() => handle.close(), () => handle.close());
  throw new CoordinatorError(
    "STORAGE_UNAVAILABLE",
    `${lockPath}: another process has held this scope's lock for over ${waitMs / 1000} s ` +
      "(a stopped or hung server?). Resume or end that process (lsof or fuser names it), then retry.",
    { file: lockPath },
  );
}

/** Opens (creating) a lock file; synchronous, as it is on every write's path and takes microseconds. */
function openLockFile(lockPath: string): Deno.FsFile {
  const options = { read: true, write: true, create: true } as const;
  try {
    return Deno.openSync(lockPath, options);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    // Someone removed the lock directory (or the whole state directory) while
    // we run: recreate it rather than fail every write from now on.
    Deno.mkdirSync(join(lockPath, ".."), { recursive: true });
    return Deno.openSync(lockPath, options);
  }
}
