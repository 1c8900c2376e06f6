/**
 * Lock files one adapter keeps open between writes. Opening, checking and
 * closing a lock file for every write costs five system calls (open, flock,
 * lstat, fstat, close); a kept one costs three (flock, lstat, unlock), which
 * is most of what a guard adds to a write and a good part of every write.
 *
 * The checks of _lock.ts stay: after every lock, the path must still name
 * the kept file (a deleted or replaced lock file is dropped and opened
 * anew), and a symlink there is refused.
 *
 * Exclusive and shared locks of one path use separate handles: flock locks
 * belong to the open file, so a shared lock taken on the handle holding the
 * exclusive one would silently weaken it. A kept exclusive handle serves one
 * writer at a time (writes of one scope are serialized in the process); a
 * kept shared handle serves every guard check of this adapter at once, and
 * is unlocked when the last of them lets go.
 */
import { CoordinatorError } from "../../core/errors.ts";
import { ioUnavailable } from "./_errors.ts";
import {
  type HeldLock,
  LOCK_WAIT_MS,
  namesFile,
  openLockFile,
  takeLock,
  waitForLock,
} from "./_lock.ts";

/** See the module comment. */
export interface LockCache {
  /** Takes the exclusive lock of `lockPath`, waiting until `deadline` (performance.now() ms) at most. */
  exclusive(lockPath: string, deadline: number): Promise<HeldLock>;
  /** Takes the shared lock of `lockPath` only if that needs no wait; null when busy. */
  tryShared(lockPath: string): HeldLock | null;
  /** Closes every kept handle no lock is held on (the others when let go). */
  clear(): void;
}

interface Kept {
  handle: Deno.FsFile;
  /** fstat when opened: the file the path must still name. */
  info: Deno.FileInfo;
  /** Locks this adapter holds through it. */
  holders: number;
  /** No longer kept: closed once the last holder lets go. */
  retired: boolean;
}

/** Keeps at most `max` exclusive and `max` shared handles, least recently used dropped first. */
export function createLockCache(max: number): LockCache {
  const exclusive = new Map<string, Kept>();
  const shared = new Map<string, Kept>();

  function close(kept: Kept): void {
    try {
      kept.handle.close();
    } catch { /* closed already */ }
  }

  function drop(map: Map<string, Kept>, lockPath: string, kept: Kept): void {
    if (map.get(lockPath) === kept) map.delete(lockPath);
    kept.retired = true;
    if (kept.holders === 0) close(kept);
  }

  /** The kept handle of `lockPath`, or a newly opened one (kept from now on). */
  function get(map: Map<string, Kept>, lockPath: string): Kept {
    let kept = map.get(lockPath);
    if (kept !== undefined) {
      map.delete(lockPath); // re-inserted below: most recently used last
    } else {
      const handle = openLockFile(lockPath);
      let info: Deno.FileInfo;
      try {
        info = handle.statSync();
      } catch (err) {
        handle.close();
        throw ioUnavailable(lockPath, "check the lock file", err);
      }
      kept = { handle, info, holders: 0, retired: false };
    }
    map.set(lockPath, kept);
    if (map.size > max) {
      for (const [path, old] of map) {
        if (map.size <= max) break;
        if (old.holders === 0 && old !== kept) drop(map, path, old);
      }
    }
    return kept;
  }

  function unlock(kept: Kept): void {
    try {
      kept.handle.unlockSync();
    } catch { /* closed: the lock went with it */ }
  }

  function letGo(kept: Kept): void {
    if (--kept.holders > 0) return;
    unlock(kept);
    if (kept.retired) close(kept);
  }

  /** True when the path still names the kept file; drops it (unlocked) when not or when refused. */
  function current(map: Map<string, Kept>, lockPath: string, kept: Kept, locked: boolean) {
    let same: boolean;
    try {
      same = namesFile(lockPath, kept.info);
    } catch (err) {
      if (locked) unlock(kept);
      drop(map, lockPath, kept);
      throw err;
    }
    if (!same) {
      if (locked) unlock(kept);
      drop(map, lockPath, kept);
    }
    return same;
  }

  return {
    async exclusive(lockPath, deadline) {
      for (;;) {
        const kept = get(exclusive, lockPath);
        // Writes of one scope run one at a time in an adapter, so this is never
        // held; should it be, a handle of its own is as correct.
        if (kept.holders > 0) return await takeLock(lockPath, true, deadline);
        let locked: boolean;
        try {
          locked = kept.handle.tryLockSync(true);
        } catch (err) {
          drop(exclusive, lockPath, kept);
          throw ioUnavailable(lockPath, "lock the lock file", err);
        }
        if (!locked) {
          // Held while we wait, so it is neither evicted nor used twice.
          kept.holders = 1;
          try {
            await waitForLock(
              kept.handle,
              lockPath,
              true,
              deadline - performance.now(),
              LOCK_WAIT_MS,
            );
          } catch (err) {
            // An abandoned wait closes the handle itself once the lock comes.
            if (exclusive.get(lockPath) === kept) exclusive.delete(lockPath);
            kept.retired = true;
            if (err instanceof CoordinatorError) throw err;
            close(kept);
            throw ioUnavailable(lockPath, "lock the lock file", err);
          }
          kept.holders = 0;
        }
        if (current(exclusive, lockPath, kept, true)) {
          kept.holders = 1;
          return { release: () => letGo(kept) };
        }
        // Deleted or replaced since it was opened: lock the file there now.
      }
    },

    tryShared(lockPath) {
      for (let attempt = 0; attempt < 3; attempt++) {
        const kept = get(shared, lockPath);
        if (kept.holders > 0) {
          // Locked shared already by another write of this adapter.
          if (current(shared, lockPath, kept, false)) {
            kept.holders++;
            return { release: () => letGo(kept) };
          }
          continue;
        }
        let locked: boolean;
        try {
          locked = kept.handle.tryLockSync(false);
        } catch (err) {
          drop(shared, lockPath, kept);
          throw ioUnavailable(lockPath, "lock the lock file", err);
        }
        if (!locked) return null;
        if (current(shared, lockPath, kept, true)) {
          kept.holders = 1;
          return { release: () => letGo(kept) };
        }
      }
      return null;
    },

    clear() {
      for (const map of [exclusive, shared]) {
        for (const [path, kept] of [...map]) drop(map, path, kept);
      }
    },
  };
}
