/** The built-in adapters, by the names a config's `storage.adapter` uses. */
import { fileAdapterFactory } from "./file/adapter.ts";
import type { AdapterFactory } from "./registry.ts";
import { type AdapterRegistry, createRegistry } from "./registry.ts";

// node-redis is a large module graph: load it only when a config asks for
// Redis, so the default local set-up starts faster.
const redisAdapterFactory: AdapterFactory = async (config, context) =>
  (await import("./redis/adapter.ts")).redisAdapterFactory(config, context);

/** A registry holding every built-in adapter; register more on it. */
export function builtinRegistry(): AdapterRegistry {
  return createRegistry({ local: fileAdapterFactory, redis: redisAdapterFactory });
}
