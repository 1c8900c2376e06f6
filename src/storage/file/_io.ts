/**
 * Private helpers of the local file adapter: in-process serialization,
 * crash-safe file replacement and creation, and whole reads and writes at an
 * offset. Nothing here knows scopes or the file format.
 */
import { join } from "node:path";
import { ioUnavailable } from "./_errors.ts";
import { withFileLock } from "./_lock.ts";

// Kept here for callers from before the locks had a module of their own (bench/profile.ts).
export { ioUnavailable } from "./_errors.ts";
export { LOCK_WAIT_MS, withFileLock } from "./_lock.ts";

/** Runs async jobs one after another per key, and lets a caller wait for all of them. */
export interface KeyedMutex {
  /** Runs `job` once every earlier job for `key` has settled. */
  run<T>(key: string, job: () => Promise<T>): Promise<T>;
  /** Resolves when every job queued so far has settled. */
  idle(): Promise<void>;
}

/**
 * Creates a per-key promise chain. The OS lock alone is not enough inside one
 * process: two operations of the same process would otherwise open two lock
 * handles and wait on each other in the blocking thread pool, and on platforms
 * whose locks are per process they would not exclude each other at all.
 */
export function createKeyedMutex(): KeyedMutex {
  const tails = new Map<string, Promise<void>>();
  return {
    run<T>(key: string, job: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      const result = previous.then(job);
      const tail = result.then(() => {}, () => {});
      tails.set(key, tail);
      // Forget finished chains so the map does not grow with every scope ever written.
      tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return result;
    },
    async idle(): Promise<void> {
      while (tails.size > 0) await Promise.all([...tails.values()]);
    },
  };
}

/**
 * Replaces `dir/name` with `text` so that a crash at any moment leaves either
 * the complete old file or the complete new one, never a mix:
 * 1. write a temp file in the same directory (rename is only atomic within
 *    one file system); a crash here leaves a stray dot-file nobody lists;
 * 2. fsync it, so its bytes are on disk before any name points at them
 *    (without this, a power loss after the rename can leave an empty file);
 * 3. rename it over the target, atomically switching readers to the new bytes;
 * 4. fsync the directory, so the rename itself survives a power loss.
 */
export async function replaceFileAtomically(
  dir: string,
  name: string,
  content: string | Uint8Array,
): Promise<void> {
  const target = join(dir, name);
  const temp = await writeTempFile(dir, name, content);
  try {
    await Deno.rename(temp, target);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw ioUnavailable(target, "write the state file", err);
  }
  await syncDirectory(dir);
}

/**
 * Creates `dir/name` with `content`, whole or not at all (as
 * replaceFileAtomically), but only while no file of that name exists: false
 * when one does. The temp file is hard-linked to the name, which fails when
 * the name is taken, so two writers that both found no file cannot both
 * create one, the second replacing the first's (which only the scope's lock
 * prevents otherwise, and a deleted lock file does not). On a file system
 * without hard links it falls back to a rename.
 */
export async function createFileAtomically(
  dir: string,
  name: string,
  content: string | Uint8Array,
): Promise<boolean> {
  const target = join(dir, name);
  const temp = await writeTempFile(dir, name, content);
  try {
    try {
      await Deno.link(temp, target);
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) return false;
      await Deno.rename(temp, target);
    }
  } catch (err) {
    throw ioUnavailable(target, "write the state file", err);
  } finally {
    await Deno.remove(temp).catch(() => {}); // linked (or renamed) already
  }
  await syncDirectory(dir);
  return true;
}

/** Steps 1 and 2 of replaceFileAtomically: a synced temp file beside `name`; returns its path. */
async function writeTempFile(
  dir: string,
  name: string,
  content: string | Uint8Array,
): Promise<string> {
  const suffix = crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
  const temp = join(dir, `.${name}.${Deno.pid}.${suffix}.tmp`);
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  try {
    const file = await Deno.open(temp, { write: true, createNew: true });
    try {
      let offset = 0;
      while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
      await file.sync();
    } finally {
      file.close();
    }
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw ioUnavailable(join(dir, name), "write the state file", err);
  }
  return temp;
}

/**
 * Matches the temp names replaceFileAtomically makes for scope files (".json",
 * format 1) and scope logs (".jsonl", format 2), capturing the target's name.
 */
const TEMP_NAME = /^\.(.+\.jsonl?)\.\d+\.[0-9a-f]+\.tmp$/;

/**
 * Removes temp files left by writers that died mid-write (SIGKILL, power
 * loss). A temp file only exists while its writer holds the target's lock,
 * so once we hold that lock any temp file for the target is stale. Best
 * effort: a failure here must not stop the adapter from starting.
 */
export async function sweepStaleTempFiles(
  dir: string,
  lockPathOf: (target: string) => string,
): Promise<number> {
  const stale: [string, string][] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const match = entry.isFile ? TEMP_NAME.exec(entry.name) : null;
      if (match) stale.push([entry.name, match[1]]);
    }
  } catch {
    return 0;
  }
  let removed = 0;
  for (const [temp, target] of stale) {
    try {
      await withFileLock(lockPathOf(target), () => Deno.remove(join(dir, temp)));
      removed++;
    } catch { /* gone already, or not ours to remove: leave it */ }
  }
  return removed;
}

/** Removes `dir/name` durably; a file already gone (removed by hand) is fine. */
export async function removeFileDurably(dir: string, name: string): Promise<void> {
  const target = join(dir, name);
  try {
    await Deno.remove(target);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw ioUnavailable(target, "remove the state file", err);
  }
  await syncDirectory(dir);
}

/**
 * Flushes a directory entry change (rename, unlink) to disk. Best effort:
 * some platforms (Windows) cannot open a directory as a file, and there the
 * rename is as durable as the OS makes it.
 */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Not supported here; the data file itself is already synced.
  } finally {
    handle?.close();
  }
}

/**
 * Reads `length` bytes of `file` from `offset`, or fewer when the file ends
 * first. Synchronous: the adapter's reads are a few small calls that the page
 * cache answers in microseconds, where each asynchronous call would cost tens.
 */
export function readAtSync(file: Deno.FsFile, offset: number, length: number): Uint8Array {
  const buffer = new Uint8Array(length);
  file.seekSync(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const n = file.readSync(buffer.subarray(filled));
    if (n === null || n === 0) break;
    filled += n;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/** Writes all of `bytes` to `file`, looping over short writes. */
export function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += file.writeSync(bytes.subarray(offset));
}
