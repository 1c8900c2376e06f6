/**
 * The local file adapter's per-process cache of replayed scope logs, kept
 * current by reading only what other processes appended since.
 *
 * Telling "the same file, grown" from "a new file under the old name" (after
 * a compaction, a deleteScope, or a wipe and a new first write) takes care: an inode
 * number alone cannot tell, as a freed number is soon handed out again. So
 * the cache keeps a handle open on each recently used log (a "pin"): while it
 * is open the inode stays allocated, no other file can have its number, and
 * one stat of the path proves the file unchanged. Without a pin (too many
 * scopes in use, or a platform with no inode numbers) the file is opened and
 * its header line compared with the cached one: the header carries a random
 * file id, so a replaced file never matches. Files are opened as
 * _safe_file.ts says (regular, no symlink, at most 1 GiB); the pin's handle
 * is also the one a writer locks the log through (_write.ts).
 */
import { CoordinatorError } from "../../core/errors.ts";
import { ioUnavailable } from "./_errors.ts";
import { readAtSync } from "./_io.ts";
import { applyLines, corrupt, type LogState, newLogState } from "./_log.ts";
import { openStateFile, refusal } from "./_safe_file.ts";

/** An open handle on a log file (read + append when the file allows writing). */
export interface Pin {
  handle: Deno.FsFile;
  ino: number | null;
  dev: number;
  /** Callers that got it from `acquire` and did not `release` it yet. */
  users: number;
  /** No longer cached: closed once the last user releases it. */
  retired: boolean;
}

/** A log brought up to date. */
export interface Access {
  state: LogState;
  /** The file's size when read: bytes past `state.end` are an append cut short. */
  size: number;
  /** The handle `state` was read through; `release` it after use. */
  pin: Pin;
}

/** See the module comment. */
export interface LogCache {
  /**
   * The up-to-date replay of the log at `path`, or null when there is none.
   * `expected` is the scope its name says (null for a hashed name).
   * Synchronous, so no other code of this process runs in between.
   */
  acquire(path: string, name: string, expected: string | null): Access | null;
  release(pin: Pin): void;
  /**
   * The handle cached for a log, without checking that it is still the file
   * at the path; `release` it after use. Null when none is cached.
   */
  peek(name: string): Pin | null;
  /** Caches the state of a file just written whole. */
  put(name: string, state: LogState): void;
  forget(name: string): void;
  clear(): void;
}

interface Cached {
  state: LogState;
  pin: Pin | null;
}

/** Creates a cache of at most `maxScopes` replays, with at most `maxPins` open handles. */
export function createLogCache(maxScopes: number, maxPins: number): LogCache {
  /** By file name, least recently used first. */
  const entries = new Map<string, Cached>();
  let pins = 0;

  function close(pin: Pin): void {
    try {
      pin.handle.close();
    } catch { /* already closed */ }
  }

  function release(pin: Pin): void {
    pin.users--;
    if (pin.retired && pin.users === 0) close(pin);
  }

  function unpin(cached: Cached): void {
    const pin = cached.pin;
    if (pin === null) return;
    cached.pin = null;
    pins--;
    pin.retired = true;
    if (pin.users === 0) close(pin);
  }

  function set(name: string, cached: Cached): void {
    entries.delete(name);
    entries.set(name, cached);
    if (cached.pin !== null) pins++;
    for (const [oldName, old] of entries) {
      if (entries.size <= maxScopes && pins <= maxPins) break;
      if (old === cached) continue;
      if (entries.size > maxScopes) entries.delete(oldName);
      unpin(old);
    }
  }

  function forget(name: string): void {
    const cached = entries.get(name);
    if (cached === undefined) return;
    unpin(cached);
    entries.delete(name);
  }

  function checkScope(state: LogState, path: string, expected: string | null): void {
    const scope = state.header!.scope;
    if (expected !== null && scope !== expected) {
      // The file's scope is not quoted: the file may not be ours (see _log.ts).
      throw corrupt(
        path,
        `holds another scope than ${JSON.stringify(expected)}, the one its name stands for.`,
        1,
      );
    }
  }

  /**
   * The fast way: one lstat, and a read of the new bytes when there are any.
   * lstat, not stat: a symlink put in the log's place is a new file (its own
   * inode), so it is opened anew, and refused there.
   */
  function viaPin(path: string, name: string, cached: Cached, expected: string | null) {
    const pin = cached.pin!;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        forget(name);
        return null;
      }
      throw ioUnavailable(path, "read the state file", err);
    }
    const state = cached.state;
    if (info.ino !== pin.ino || info.dev !== pin.dev || info.size < state.end) {
      unpin(cached); // replaced (or cut back): read it anew
      return undefined;
    }
    const refused = refusal(path, info); // grown past the size limit
    if (refused !== null) throw refused;
    if (info.size > state.end) {
      let bytes: Uint8Array;
      try {
        bytes = readAtSync(pin.handle, state.end, info.size - state.end);
      } catch (err) {
        throw ioUnavailable(path, "read the state file", err);
      }
      applyLines(state, path, bytes);
    }
    checkScope(state, path, expected);
    entries.delete(name);
    entries.set(name, cached);
    pin.users++;
    return { state, size: info.size, pin };
  }

  function open(path: string, name: string): { handle: Deno.FsFile; info: Deno.FileInfo } | null {
    const opened = openStateFile(path, true);
    if (opened === null) forget(name);
    return opened;
  }

  return {
    acquire(path, name, expected) {
      const cached = entries.get(name);
      if (cached?.pin) {
        const fast = viaPin(path, name, cached, expected);
        if (fast !== undefined) return fast;
      }
      const opened = open(path, name);
      if (opened === null) return null;
      const { handle, info } = opened;
      let state = cached?.state;
      try {
        if (
          state !== undefined &&
          (info.size < state.end ||
            !sameBytes(readAtSync(handle, 0, state.headerLine.length), state.headerLine))
        ) {
          state = undefined;
        }
        if (state === undefined) {
          const fresh = newLogState();
          applyLines(fresh, path, readAtSync(handle, 0, info.size));
          if (fresh.header === null) {
            throw corrupt(path, "has no header line; a scope log starts with one.", 1);
          }
          state = fresh;
        } else if (info.size > state.end) {
          applyLines(state, path, readAtSync(handle, state.end, info.size - state.end));
        }
        checkScope(state, path, expected);
      } catch (err) {
        handle.close();
        if (err instanceof CoordinatorError) throw err;
        throw ioUnavailable(path, "read the state file", err);
      }
      const pin: Pin = {
        handle,
        ino: info.ino,
        dev: info.dev,
        users: 1,
        retired: info.ino === null,
      };
      if (cached !== undefined) unpin(cached);
      set(name, { state, pin: pin.retired ? null : pin });
      return { state, size: info.size, pin };
    },

    release,

    peek(name) {
      const pin = entries.get(name)?.pin ?? null;
      if (pin !== null) pin.users++;
      return pin;
    },

    put(name, state) {
      forget(name);
      set(name, { state, pin: null });
    },

    forget,

    clear() {
      for (const cached of entries.values()) unpin(cached);
      entries.clear();
    },
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
