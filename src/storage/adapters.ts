/** The built-in adapters, by the names a config's `storage.adapter` uses. */
import { fileAdapterFactory } from "./file.ts";
import { redisAdapterFactory } from "./redis.ts";
import { type AdapterRegistry, createRegistry } from "./registry.ts";

/** A registry holding every built-in adapter; register more on it. */
export function builtinRegistry(): AdapterRegistry {
  return createRegistry({ local: fileAdapterFactory, redis: redisAdapterFactory });
}
