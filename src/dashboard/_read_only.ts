/** A storage handle that can only read: the dashboard's guarantee that it changes nothing. */
import { CoordinatorError } from "../core/errors.ts";
import type { StorageAdapter } from "../storage/contract.ts";

function refuse(what: string): Promise<never> {
  return Promise.reject(
    new CoordinatorError("INTERNAL_ERROR", `the dashboard is read-only; it tried to ${what}.`),
  );
}

/**
 * Wraps `storage` so every write is refused. The dashboard reads through the
 * same core functions the tools use; this makes sure none of them ever
 * writes on its behalf (a read that repairs, say), whatever they grow into.
 * close() is not forwarded: the storage belongs to whoever opened it.
 */
export function readOnlyStorage(storage: StorageAdapter): StorageAdapter {
  return {
    name: storage.name,
    now: () => storage.now(),
    retrieve: (scope, key) => storage.retrieve(scope, key),
    listKeys: (scope, options) => storage.listKeys(scope, options),
    listEntries: (scope, options) => storage.listEntries(scope, options),
    listScopes: (pattern) => storage.listScopes(pattern),
    watch: (listener) => storage.watch(listener),
    store: () => refuse("store a key"),
    delete: () => refuse("delete a key"),
    writeBatch: () => refuse("write a batch"),
    restore: () => refuse("restore a key"),
    deleteScope: () => refuse("delete a scope"),
    close: () => Promise.resolve(),
  };
}
