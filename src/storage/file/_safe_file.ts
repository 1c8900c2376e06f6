/**
 * Opening state files that may not be what their names say. A state
 * directory can come from a cloned repository or a careless script: a log
 * that is a symlink to ~/.bashrc would have us append to it, one to
 * /dev/zero or a FIFO would be read without end, and a huge file would be
 * read whole into memory. So a state file must be a regular file, not a
 * symlink, at most MAX_STATE_FILE_BYTES long, and the handle we open must be
 * the very file we checked (not one swapped in between).
 */
import type { CoordinatorError } from "../../core/errors.ts";
import { ioUnavailable } from "./_errors.ts";
import { corrupt } from "./_log.ts";

/** The largest log or format-1 file read: far beyond any real scope, far below the memory it would take. */
export const MAX_STATE_FILE_BYTES = 1024 * 1024 * 1024;

/** How often an open is retried when the file is swapped between the check and the open. */
const OPEN_ATTEMPTS = 5;

/** An open state file and what fstat said of it. */
export interface OpenedFile {
  handle: Deno.FsFile;
  /** The handle's fstat, taken after the checks passed. */
  info: Deno.FileInfo;
}

/**
 * The CORRUPT_STATE error when `info` (from lstat) is not a regular file, or
 * is too large; null when it is fine.
 */
export function refusal(path: string, info: Deno.FileInfo): CoordinatorError | null {
  if (info.isSymlink) {
    return corrupt(
      path,
      "is a symbolic link; state files must be regular files (remove the link, or delete the " +
        "scope to replace it).",
    );
  }
  if (info.isDirectory) return corrupt(path, "is a directory.");
  if (!info.isFile) return corrupt(path, "is not a regular file (a FIFO, socket or device?).");
  if (info.size > MAX_STATE_FILE_BYTES) {
    return corrupt(
      path,
      `is larger than ${MAX_STATE_FILE_BYTES / 1024 ** 3} GiB (${info.size} bytes); ` +
        "no scope log grows that large.",
    );
  }
  return null;
}

/** True when two stats describe the same file (dev + inode; always true where the OS has no inode numbers). */
export function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  if (a.ino === null || b.ino === null) return a.birthtime?.getTime() === b.birthtime?.getTime();
  return a.ino === b.ino && a.dev === b.dev;
}

/**
 * Opens the state file at `path` after checking it (see the module comment),
 * for reading, and for appending too when `append` is set and the file
 * allows it. Null when there is no file. Throws CORRUPT_STATE for a file
 * that is refused, STORAGE_UNAVAILABLE when it cannot be opened.
 *
 * A FIFO swapped in between the check and the open could block an open for
 * reading only; an open for reading and writing never blocks on one, so
 * that is tried first, also where only reading is wanted.
 */
export function openStateFile(path: string, append: boolean): OpenedFile | null {
  for (let attempt = 1;; attempt++) {
    let checked: Deno.FileInfo;
    try {
      checked = Deno.lstatSync(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw ioUnavailable(path, "read the state file", err);
    }
    const refused = refusal(path, checked);
    if (refused !== null) throw refused;
    let handle: Deno.FsFile;
    try {
      try {
        handle = Deno.openSync(
          path,
          append ? { read: true, append: true } : {
            read: true,
            write: true,
          },
        );
      } catch (err) {
        // A file this process may read but not write: reads still work.
        if (!(err instanceof Deno.errors.PermissionDenied)) throw err;
        handle = Deno.openSync(path, { read: true });
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      if (err instanceof Deno.errors.IsADirectory) throw corrupt(path, "is a directory.");
      throw ioUnavailable(path, "open the state file", err);
    }
    let info: Deno.FileInfo;
    try {
      info = handle.statSync();
    } catch (err) {
      handle.close();
      throw ioUnavailable(path, "read the state file", err);
    }
    if (sameFile(info, checked) && info.isFile) {
      const late = refusal(path, info); // grown past the limit since the check
      if (late === null) return { handle, info };
      handle.close();
      throw late;
    }
    handle.close();
    if (attempt >= OPEN_ATTEMPTS) {
      throw corrupt(path, "keeps being replaced while it is opened; refused.");
    }
  }
}
