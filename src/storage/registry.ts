/** The adapter registry: the only place that knows every adapter by name. */
import { CoordinatorError } from "../core/errors.ts";
import type { AdapterContext, StorageAdapter } from "./contract.ts";

/**
 * Builds an adapter from its raw `storage.config` object. A factory validates
 * its own config and throws CONFIG_INVALID naming `storage.config.<field>`.
 */
export type AdapterFactory = (
  config: Record<string, unknown>,
  context: AdapterContext,
) => Promise<StorageAdapter>;

/** A name → factory map; pass one around instead of using a global. */
export interface AdapterRegistry {
  /** Adds or replaces an adapter (the seed's register_adapter). */
  register(name: string, factory: AdapterFactory): void;
  /** Names of the registered adapters, sorted. */
  names(): string[];
  /** True when `name` is registered. */
  has(name: string): boolean;
  /** Creates the named adapter; an unknown name lists the available ones. */
  create(
    name: string,
    config: Record<string, unknown>,
    context: AdapterContext,
  ): Promise<StorageAdapter>;
}

/** Creates a registry holding the given factories. */
export function createRegistry(initial: Record<string, AdapterFactory> = {}): AdapterRegistry {
  const factories = new Map<string, AdapterFactory>(Object.entries(initial));
  const names = () => [...factories.keys()].sort();
  return {
    register(name, factory) {
      if (!/^[a-z][a-z0-9_-]*$/.test(name)) {
        throw new TypeError(`adapter name ${JSON.stringify(name)} must match [a-z][a-z0-9_-]*`);
      }
      factories.set(name, factory);
    },
    names,
    has: (name) => factories.has(name),
    create(name, config, context) {
      const factory = factories.get(name);
      if (!factory) {
        return Promise.reject(
          new CoordinatorError(
            "CONFIG_INVALID",
            `storage.adapter: unknown adapter ${JSON.stringify(name)} (available: ${
              names().join(", ")
            })`,
            { adapter: name, available: names() },
          ),
        );
      }
      return factory(config, context);
    },
  };
}
