/**
 * The change hub: one watch on the storage's change feed per process, shared
 * by every session and view that wants to know what changed. The feed is
 * only watched while someone listens, so an idle server that nobody asked
 * for live updates watches nothing.
 *
 * @module
 */
import type { Change, StorageAdapter } from "../../storage/contract.ts";

/** Fans the storage's change feed out to many listeners. */
export interface ChangeHub {
  /** Calls `listener` with every change until the returned function is called. */
  subscribe(listener: (change: Change) => void): () => void;
}

/** Creates the hub of one storage. */
export function createChangeHub(storage: StorageAdapter): ChangeHub {
  const listeners = new Set<(change: Change) => void>();
  let stop: (() => void) | null = null;
  return {
    subscribe(listener) {
      listeners.add(listener);
      stop ??= storage.watch((change) => {
        for (const l of [...listeners]) {
          try {
            l(change);
          } catch {
            // One listener's failure must not starve the others.
          }
        }
      });
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && stop !== null) {
          stop();
          stop = null;
        }
      };
    },
  };
}
