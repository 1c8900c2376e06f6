/**
 * store, delete and writeBatch for an adapter whose every write goes through
 * one batch path (memory, Redis, PostgreSQL): the arguments are checked here,
 * in one order for every adapter, before the adapter touches its store.
 */
import type { JsonValue } from "../core/json.ts";
import { validateKey, validateScope } from "../core/scope.ts";
import type {
  AdapterLimits,
  BatchOp,
  BatchOptions,
  BatchResult,
  DeleteOptions,
  Guard,
  StorageAdapter,
  StoreOptions,
  StoreResult,
} from "./contract.ts";
import {
  checkBatch,
  type CheckedOp,
  checkGuard,
  checkHeldBy,
  checkIfVersion,
  checkUpdatedBy,
  encodeValue,
  expiryFromTtl,
} from "./values.ts";

/** Applies checked ops to one scope atomically, as the contract's writeBatch does. */
export type ApplyBatch = (
  scope: string,
  ops: CheckedOp[],
  updatedBy: string | null,
  guard: Guard | undefined,
) => Promise<BatchResult[]>;

/** The three write methods of an adapter, built on its one batch path. */
export function batchWrites(
  limits: AdapterLimits,
  apply: ApplyBatch,
): Pick<StorageAdapter, "store" | "delete" | "writeBatch"> {
  return {
    async store(scope, key, value: JsonValue, options: StoreOptions = {}): Promise<StoreResult> {
      const s = validateScope(scope);
      const op: CheckedOp = {
        op: "set",
        key: validateKey(key),
        text: encodeValue(value, limits),
        ifVersion: options.ifVersion,
        ttlSeconds: options.ttlSeconds,
        heldBy: checkHeldBy(options.heldBy),
      };
      checkIfVersion(op.ifVersion);
      expiryFromTtl(op.ttlSeconds, 0);
      const updatedBy = checkUpdatedBy(options.updatedBy);
      const guard = checkGuard(options.guard);
      const [result] = await apply(s, [op], updatedBy, guard);
      const { op: _op, ...stored } = result as { op: "set" } & StoreResult;
      return stored;
    },

    async delete(scope, key, options: DeleteOptions = {}): Promise<boolean> {
      const s = validateScope(scope);
      const k = validateKey(key);
      checkIfVersion(options.ifVersion);
      const guard = checkGuard(options.guard);
      const [result] = await apply(
        s,
        [{ op: "delete", key: k, ifVersion: options.ifVersion }],
        null,
        guard,
      );
      return result.op === "delete" && result.deleted;
    },

    async writeBatch(scope, ops: BatchOp[], options: BatchOptions = {}): Promise<BatchResult[]> {
      const s = validateScope(scope);
      const checked = checkBatch(ops, limits);
      const updatedBy = checkUpdatedBy(options.updatedBy);
      const guard = checkGuard(options.guard);
      return await apply(s, checked, updatedBy, guard);
    },
  };
}
