/** The built-in adapters, by the names a config's `storage.adapter` uses. */
import { fileAdapterFactory } from "./file/adapter.ts";
import { memoryAdapterFactory } from "./memory/adapter.ts";
import type { AdapterFactory } from "./registry.ts";
import { type AdapterRegistry, createRegistry } from "./registry.ts";

// Network clients are large module graphs: load each only when a config
// asks for it, so the default local set-up starts fast.
const redisAdapterFactory: AdapterFactory = async (config, context) =>
  (await import("./redis/adapter.ts")).redisAdapterFactory(config, context);
const postgresAdapterFactory: AdapterFactory = async (config, context) =>
  (await import("./postgres/adapter.ts")).postgresAdapterFactory(config, context);

/** A registry holding every built-in adapter; register more on it. */
export function builtinRegistry(): AdapterRegistry {
  return createRegistry({
    local: fileAdapterFactory,
    memory: memoryAdapterFactory,
    postgres: postgresAdapterFactory,
    redis: redisAdapterFactory,
  });
}
