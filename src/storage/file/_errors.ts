/** The I/O error of the local file adapter, shared by its modules. */
import { CoordinatorError } from "../../core/errors.ts";

/** The STORAGE_UNAVAILABLE error for a failed file system call, with the path and the OS message. */
export function ioUnavailable(path: string, action: string, err: unknown): CoordinatorError {
  const reason = err instanceof Error ? err.message : String(err);
  return new CoordinatorError(
    "STORAGE_UNAVAILABLE",
    `${path}: cannot ${action} (${reason}); check that the directory exists, that this process ` +
      `may read and write it, and that the disk is not full.`,
    { path, reason },
    { cause: err },
  );
}
