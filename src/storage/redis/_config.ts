/** The Redis adapter's `storage.config`: schema and readable errors. */
import { z } from "zod";
import { adapterConfigError } from "../config_error.ts";

/** Default prefix of every Redis key. */
export const DEFAULT_PREFIX = "csc:";

/** `storage.config` of the redis adapter, validated. */
export interface RedisConfig {
  url: string;
  prefix: string;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

const timeoutField = z
  .number({ error: "must be a number of milliseconds." })
  .int({ error: "must be a whole number of milliseconds." })
  .min(100, { error: "must be at least 100 ms." })
  .max(60_000, { error: "must be at most 60000 ms." })
  .optional();

const RedisConfigSchema = z.strictObject({
  url: z
    .string({ error: "is required: a redis:// or rediss:// URL such as redis://127.0.0.1:6379." })
    .refine((u) => /^rediss?:\/\//.test(u), {
      error: "must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379.",
    }),
  prefix: z
    .string({ error: "must be a string." })
    .min(1, { error: "must not be empty." })
    .max(100, { error: "must be at most 100 characters." })
    // deno-lint-ignore no-control-regex
    .refine((p) => !/[\u0000-\u001f\u007f]/.test(p), {
      error: "must not contain control characters.",
    })
    .default(DEFAULT_PREFIX),
  connect_timeout_ms: timeoutField,
  command_timeout_ms: timeoutField,
});

/**
 * Validates `storage.config` (url, prefix, connect_timeout_ms,
 * command_timeout_ms); CONFIG_INVALID names the field and never echoes the
 * URL, so a password cannot leak through here.
 */
export function parseRedisConfig(config: Record<string, unknown> | null | undefined): RedisConfig {
  const parsed = RedisConfigSchema.safeParse(config ?? {});
  if (!parsed.success) {
    throw adapterConfigError(
      "redis",
      "url, prefix, connect_timeout_ms and command_timeout_ms",
      parsed.error,
    );
  }
  const c = parsed.data;
  return {
    url: c.url,
    prefix: c.prefix,
    connectTimeoutMs: c.connect_timeout_ms,
    commandTimeoutMs: c.command_timeout_ms,
  };
}
