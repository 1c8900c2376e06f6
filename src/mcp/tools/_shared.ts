/** Argument pieces several tools share, described once. */
import type { Param } from "../params.ts";

/** A relative scope name. */
export const scope = {
  type: "string",
  min: 1,
  max: 400,
  description: 'e.g. "session:claude_1", "notes", "@project:claims" (every machine)',
} as const satisfies Param;

/** A key inside a scope. */
export const key = { type: "string", min: 1, max: 256 } as const satisfies Param;

/** Compare-and-set. */
export const ifVersion = {
  type: "integer",
  min: 0,
  max: Number.MAX_SAFE_INTEGER,
  description: "write only if the current version is this; 0 = only if absent",
} as const satisfies Param;

/** A TTL in seconds. */
export const ttlSeconds = {
  type: "number",
  above: 0,
  max: 315_360_000,
  description: "expire after this many seconds",
} as const satisfies Param;
