/**
 * The per-scope OS locks of the local file adapter: flock on Unix,
 * LockFileEx on Windows, on `.locks/<format-1 name>.lock`. The OS drops a
 * lock when its process dies, even on SIGKILL, so a crashed writer never
 * blocks the others.
 *
 * A lock file can be deleted while servers run (by a person, a cleanup
 * script, a wipe of the state directory). Whoever opens the path afterwards
 * gets a new file, and its lock excludes nobody still holding the old one.
 * So after taking a lock the holder checks that the path still names the
 * very file it locked, and starts over when not. That closes the window for
 * every deletion made before the check; a deletion while a holder works
 * after its check is what the log's own lock covers (see _write.ts).
 *
 * A lock file that is a symlink is refused (CORRUPT_STATE naming it): a
 * state directory from a cloned repository could point it anywhere. It is
 * never created through a link either (createNew does not follow one).
 */
import { join } from "node:path";
import { CoordinatorError } from "../../core/errors.ts";
import { ioUnavailable } from "./_errors.ts";
import { corrupt } from "./_log.ts";
import { sameFile } from "./_safe_file.ts";

/** How long a writer waits for another process's lock before it gives up. */
export const LOCK_WAIT_MS = 10_000;

/** An OS lock held on a lock file. */
export interface HeldLock {
  /** Lets the lock go (closes its handle). */
  release(): void;
}

/** How often opening a lock file is retried while others delete and re-create it. */
const OPEN_ATTEMPTS = 100;

/**
 * Takes the lock on `lockPath`, exclusive or shared, waiting until
 * `deadline` (performance.now() ms) at most; then STORAGE_UNAVAILABLE naming
 * the lock file.
 */
export async function takeLock(
  lockPath: string,
  exclusive: boolean,
  deadline: number,
  waitMs: number = LOCK_WAIT_MS,
): Promise<HeldLock> {
  for (;;) {
    const handle = openLockFile(lockPath);
    try {
      if (!handle.tryLockSync(exclusive)) {
        await waitForLock(handle, lockPath, exclusive, deadline - performance.now(), waitMs);
      }
    } catch (err) {
      // waitForLock closes the handle itself once an abandoned wait ends.
      if (err instanceof CoordinatorError) throw err;
      handle.close();
      throw ioUnavailable(lockPath, "lock the lock file", err);
    }
    if (stillThere(handle, lockPath)) return { release: () => handle.close() };
    handle.close(); // deleted or replaced meanwhile: lock the file there now
  }
}

/**
 * Runs `job` while holding an exclusive lock on `lockPath`, waiting at most
 * `waitMs` for it (then STORAGE_UNAVAILABLE naming the lock file).
 */
export async function withFileLock<T>(
  lockPath: string,
  job: () => Promise<T>,
  waitMs: number = LOCK_WAIT_MS,
): Promise<T> {
  const lock = await takeLock(lockPath, true, performance.now() + waitMs, waitMs);
  try {
    return await job();
  } finally {
    lock.release();
  }
}

/**
 * True when the path still names the locked file. A symlink there is
 * refused; a path that is gone or names another file means the lock file
 * was deleted (and maybe re-created) after we opened it. Closes the handle
 * when it throws.
 */
function stillThere(handle: Deno.FsFile, lockPath: string): boolean {
  let locked: Deno.FileInfo;
  try {
    locked = handle.statSync();
  } catch (err) {
    handle.close();
    throw ioUnavailable(lockPath, "check the lock file", err);
  }
  try {
    return namesFile(lockPath, locked);
  } catch (err) {
    handle.close();
    throw err;
  }
}

/**
 * True when `lockPath` names the file `locked` (an fstat of an open lock
 * file); false when it is gone or names another file. A symlink or other
 * non-regular file there is refused (CORRUPT_STATE).
 */
export function namesFile(lockPath: string, locked: Deno.FileInfo): boolean {
  let atPath: Deno.FileInfo;
  try {
    atPath = Deno.lstatSync(lockPath);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw ioUnavailable(lockPath, "check the lock file", err);
  }
  if (!atPath.isFile) throw lockRefusal(lockPath, atPath);
  return sameFile(atPath, locked);
}

/**
 * Waits for the lock, at most `remainingMs` (of the `waitMs` a writer waits in all). A process that was stopped (SIGSTOP,
 * Ctrl-Z) while it held the lock would otherwise block every writer of the
 * scope in every process. A blocking lock call cannot be cancelled, so an
 * abandoned one closes its handle (releasing the lock) the moment it returns.
 */
export async function waitForLock(
  handle: Deno.FsFile,
  lockPath: string,
  exclusive: boolean,
  remainingMs: number,
  waitMs: number,
): Promise<void> {
  const locked = handle.lock(exclusive).then(() => true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) =>
    timer = setTimeout(() => resolve(false), Math.max(0, remainingMs))
  );
  const won = await Promise.race([locked, timedOut]).finally(() => clearTimeout(timer));
  if (won) return;
  locked.then(() => handle.close(), () => handle.close());
  throw lockTimeout(lockPath, waitMs);
}

/** The STORAGE_UNAVAILABLE error of a lock held too long by another process. */
export function lockTimeout(lockPath: string, waitMs: number): CoordinatorError {
  return new CoordinatorError(
    "STORAGE_UNAVAILABLE",
    `${lockPath}: another process has held this scope's lock for over ${waitMs / 1000} s ` +
      "(a stopped or hung server?). Resume or end that process (lsof or fuser names it), then retry.",
    { file: lockPath },
  );
}

/**
 * Opens a lock file, creating it when missing; synchronous, as it is on
 * every write's path and takes microseconds. An existing file is opened as
 * it is (a symlink is refused once locked, by stillThere); a missing one is
 * created with createNew, which never follows a symlink. The directory is
 * re-created when someone removed it (or the whole state directory).
 */
export function openLockFile(lockPath: string): Deno.FsFile {
  for (let attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
    try {
      return Deno.openSync(lockPath, { read: true, write: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw openFailure(lockPath, err);
    }
    try {
      return Deno.openSync(lockPath, { read: true, write: true, createNew: true });
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) {
        checkNotLink(lockPath); // a dangling link is never followed, but refused
        continue; // made meanwhile by another process
      }
      if (!(err instanceof Deno.errors.NotFound)) throw openFailure(lockPath, err);
    }
    try {
      Deno.mkdirSync(join(lockPath, ".."), { recursive: true });
    } catch (err) {
      // Another process made it at the same moment: fine.
      if (!(err instanceof Deno.errors.AlreadyExists)) throw openFailure(lockPath, err);
    }
  }
  throw ioUnavailable(lockPath, "open the lock file", new Error("it keeps being deleted"));
}

/** Throws the refusal of a lock file that is a symlink or no regular file. */
function checkNotLink(lockPath: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(lockPath);
  } catch {
    return; // gone meanwhile: the next attempt sees
  }
  if (!info.isFile) throw lockRefusal(lockPath, info);
}

/** Why a lock file could not be opened: refused when it is no regular file, else I/O. */
function openFailure(lockPath: string, err: unknown): CoordinatorError {
  try {
    const info = Deno.lstatSync(lockPath);
    if (!info.isFile) return lockRefusal(lockPath, info);
  } catch { /* the open's own error says more */ }
  return ioUnavailable(lockPath, "open the lock file", err);
}

/** CORRUPT_STATE for a lock file that is a symlink (or no regular file). */
function lockRefusal(lockPath: string, info: Deno.FileInfo): CoordinatorError {
  const what = info.isSymlink ? "a symbolic link" : "not a regular file";
  return corrupt(
    lockPath,
    `is ${what}; a scope's lock file must be a regular file. Remove it (the next write ` +
      "makes a new one).",
  );
}
