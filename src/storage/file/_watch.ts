/**
 * The local file adapter's change feed (StorageAdapter.watch): which scopes
 * changed, in this process and in every other process sharing the state
 * directory.
 *
 * While at least one listener is registered, the state directory is watched
 * with Deno.watchFs (inotify, FSEvents, ReadDirectoryChangesW). Each changed
 * file name is mapped back to its scope, bursts are coalesced for
 * COALESCE_MS, and listeners get `{ scopes }` well within the contract's
 * 100 ms. This process's own writes are reported directly too, so they are
 * reported even where the OS reports nothing.
 *
 * File systems can miss events (network mounts, some containers), and a
 * watch dies with its directory. So a slow rescan (every RESCAN_MS) compares
 * every state file's identity, size and time with the last scan and reports
 * what changed; it also notices the directory deleted or replaced, restarts
 * the watcher once the directory is back, and reports `{ all: true }`, so
 * nothing is silently missed. A watcher that fails is restarted the same way.
 */
import { basename, dirname } from "node:path";
import type { Change } from "../contract.ts";

/** Most file names whose scope the watcher remembers. */
const NAMES_CACHED = 4096;
/** How long a burst of events is gathered before listeners hear of it (ms). */
const COALESCE_MS = 15;
/** How often the directory is rescanned as a safety net (ms). */
const RESCAN_MS = 3_000;
/** How often a lost watcher is retried at first (ms); doubling up to the rescan period. */
const RETRY_MS = 50;
/** Event kinds that say a file changed; "access" (a read, or closing a handle) does not. */
const CHANGING = new Set(["any", "create", "modify", "remove", "rename"]);

/** Options of createChangeFeed. */
export interface ChangeFeedOptions {
  /** The state directory. */
  basePath: string;
  /**
   * The scope a state file's name stands for: null for a file that is no
   * scope's, undefined when it cannot tell (a hashed name it cannot read).
   */
  scopeOfName: (name: string) => string | null | undefined;
  /** True for the names of state files (logs and format-1 files), which the rescan compares. */
  isStateFile: (name: string) => boolean;
  /** How often the directory is rescanned (ms); RESCAN_MS by default. */
  rescanMs?: number;
  /** Watches a directory; Deno.watchFs by default (tests pass one that misses events). */
  watchFs?: (path: string) => Deno.FsWatcher;
}

/** See the module comment. */
export interface ChangeFeed {
  /** Calls `listener` with every change until the returned function is called. */
  watch(listener: (change: Change) => void): () => void;
  /** Reports a change this process made. */
  changed(scope: string): void;
  /** Stops everything and waits for a rescan in progress. */
  close(): Promise<void>;
}

/** Creates a change feed; nothing runs until the first listener comes. */
export function createChangeFeed(options: ChangeFeedOptions): ChangeFeed {
  const { basePath, scopeOfName, isStateFile } = options;
  const rescanMs = options.rescanMs ?? RESCAN_MS;
  const watchFs = options.watchFs ?? ((path) => Deno.watchFs(path, { recursive: false }));
  const listeners = new Set<(change: Change) => void>();
  let closed = false;
  let watcher: Deno.FsWatcher | null = null;
  /** dev:ino of the directory the watcher watches, to notice it replaced. */
  let watchedDir: string | null = null;
  /** The directory as the OS may name it in events (macOS reports /private/var for /var). */
  let realBase = basePath;
  let retryMs = RETRY_MS;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let rescanTimer: ReturnType<typeof setInterval> | undefined;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let rescanning: Promise<void> | null = null;
  /** Each state file's identity, size and time at the last scan; null before the first. */
  let lastScan: Map<string, string> | null = null;
  const pending = new Set<string>();
  /** A file was removed or renamed: the directory itself may be gone (checked at the flush). */
  let checkDir = false;
  /** State files named by events since the last flush: their scan entries are refreshed then. */
  const touched = new Set<string>();
  let everything = false;

  function start(): void {
    openWatcher();
    rescanTimer = setInterval(rescan, rescanMs);
    rescan(); // the first scan is the baseline
  }

  function stop(): void {
    closeWatcher();
    clearInterval(rescanTimer);
    clearTimeout(retryTimer);
    clearTimeout(flushTimer);
    rescanTimer = retryTimer = flushTimer = undefined;
    lastScan = null;
    pending.clear();
    touched.clear();
    everything = false;
    checkDir = false;
  }

  /** Starts watching the directory; false when it cannot be watched now (it is gone). */
  function openWatcher(): boolean {
    let w: Deno.FsWatcher;
    try {
      w = watchFs(basePath);
    } catch {
      watchedDir = null;
      return false;
    }
    watcher = w;
    watchedDir = dirIdentity();
    try {
      realBase = Deno.realPathSync(basePath);
    } catch {
      realBase = basePath;
    }
    (async () => {
      try {
        for await (const event of w) onEvent(event);
      } catch { /* lost: handled below */ }
      if (watcher === w) lost();
    })();
    return true;
  }

  function closeWatcher(): void {
    const w = watcher;
    watcher = null;
    watchedDir = null;
    try {
      w?.close();
    } catch { /* closed already */ }
  }

  /**
   * The watcher died, or its directory was deleted or replaced: whatever
   * happened meanwhile is unknown, so `{ all: true }`, and a new watcher as
   * soon as the directory is there again (then `{ all: true }` once more).
   */
  function lost(): void {
    if (listeners.size === 0) return;
    closeWatcher();
    everything = true;
    scheduleFlush();
    retryMs = RETRY_MS;
    scheduleRetry();
  }

  function scheduleRetry(): void {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (listeners.size === 0 || watcher !== null) return;
      if (openWatcher()) {
        lastScan = null; // a new baseline: the old one is of another directory
        report(null);
        rescan();
      } else {
        retryMs = Math.min(retryMs * 2, rescanMs);
        scheduleRetry();
      }
    }, retryMs);
  }

  function onEvent(event: Deno.FsEvent): void {
    if (!CHANGING.has(event.kind)) return;
    // The directory's own removal is not always reported (inotify may drop
    // it with the watch); its files' removals are, so they make us look.
    if (event.kind === "remove" || event.kind === "rename") checkDir = true;
    for (const path of event.paths) {
      const dir = dirname(path);
      if (dir !== basePath && dir !== realBase) {
        // The directory itself (deleted, moved) or something elsewhere.
        if ((path === basePath || path === realBase) && event.kind !== "modify") lost();
        continue;
      }
      noteName(basename(path));
    }
  }

  function noteName(name: string): void {
    // Dot-files are temp files (their rename onto the log is an event of its own) and the lock directory.
    if (name.startsWith(".")) return;
    const scope = scopeOfNameCached(name);
    if (scope === null) return;
    if (isStateFile(name)) touched.add(name);
    report(scope === undefined ? null : scope);
  }

  // A file's name always stands for the same scope (or none), and every
  // write, ours included, brings an event: decoding the name each time was a
  // tenth of a write's CPU. Unknown hashed names (undefined) are not kept.
  const namesSeen = new Map<string, string | null>();
  function scopeOfNameCached(name: string): string | null | undefined {
    const seen = namesSeen.get(name);
    if (seen !== undefined) return seen;
    const scope = scopeOfName(name);
    if (scope !== undefined) {
      if (namesSeen.size >= NAMES_CACHED) namesSeen.clear();
      namesSeen.set(name, scope);
    }
    return scope;
  }

  /** Queues a scope (null: everything) for the next flush. */
  function report(scope: string | null): void {
    if (listeners.size === 0) return;
    if (scope === null) everything = true;
    else pending.add(scope);
    scheduleFlush();
  }

  function scheduleFlush(): void {
    flushTimer ??= setTimeout(flush, COALESCE_MS);
  }

  function flush(): void {
    flushTimer = undefined;
    if (checkDir) {
      checkDir = false;
      if (watcher !== null && dirIdentity() !== watchedDir) {
        lost();
        clearTimeout(flushTimer); // this flush reports it
        flushTimer = undefined;
      }
    }
    refreshTouched();
    const change: Change | null = everything
      ? { all: true }
      : pending.size > 0
      ? { scopes: [...pending].sort() }
      : null;
    everything = false;
    pending.clear();
    if (change === null) return;
    for (const listener of [...listeners]) {
      try {
        listener(change);
      } catch { /* a listener's failure is its own; the feed goes on */ }
    }
  }

  /** Files the watcher reported: their scan entries follow, so the rescan does not report them again. */
  function refreshTouched(): void {
    if (lastScan === null) {
      touched.clear();
      return;
    }
    for (const name of touched) {
      const sig = signature(`${basePath}/${name}`);
      if (sig === null) lastScan.delete(name);
      else lastScan.set(name, sig);
    }
    touched.clear();
  }

  /** The safety net: see the module comment. Never throws. */
  function rescan(): void {
    if (rescanning !== null || listeners.size === 0) return;
    rescanning = (async () => {
      const dir = dirIdentity();
      if (watcher !== null && dir !== watchedDir) {
        lost(); // deleted, or replaced by a new directory the watcher does not see
        return;
      }
      if (watcher === null) {
        if (retryTimer === undefined) scheduleRetry();
        return;
      }
      const scan = new Map<string, string>();
      try {
        for await (const entry of Deno.readDir(basePath)) {
          if (entry.name.startsWith(".") || !isStateFile(entry.name)) continue;
          const sig = signature(`${basePath}/${entry.name}`);
          if (sig !== null) scan.set(entry.name, sig);
        }
      } catch {
        return; // the directory went meanwhile: the next rescan sees
      }
      const before = lastScan;
      lastScan = scan;
      if (before === null || listeners.size === 0) return;
      for (const [name, sig] of scan) if (before.get(name) !== sig) noteName(name);
      for (const name of before.keys()) if (!scan.has(name)) noteName(name);
    })().finally(() => {
      rescanning = null;
    });
  }

  function dirIdentity(): string | null {
    try {
      const info = Deno.statSync(basePath);
      return `${info.dev}:${info.ino}:${info.birthtime?.getTime()}`;
    } catch {
      return null;
    }
  }

  return {
    watch(listener) {
      if (closed) return () => {};
      listeners.add(listener);
      if (listeners.size === 1) start();
      return () => {
        if (!listeners.delete(listener)) return;
        if (listeners.size === 0) stop();
      };
    },

    changed(scope) {
      report(scope);
    },

    async close() {
      closed = true;
      listeners.clear();
      stop();
      await rescanning;
    },
  };
}

/** A state file's identity, size and time, to tell a changed file; null when it is gone. */
function signature(path: string): string | null {
  try {
    const info = Deno.lstatSync(path);
    return `${info.ino}:${info.size}:${info.mtime?.getTime()}:${info.ctime?.getTime()}`;
  } catch {
    return null;
  }
}
