/**
 * The postgres adapter's settings: the `storage.config` schema, the URL and
 * the schema name, all checked before anything connects. Every error is
 * CONFIG_INVALID naming the field, and never carries the URL's password.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { CoordinatorError } from "../../core/errors.ts";
import { adapterConfigError } from "../config_error.ts";
import { redactUrl } from "../../core/redact.ts";

/** The schema the adapter uses when the config names none. */
export const DEFAULT_SCHEMA = "csc";
/** Default connect timeout: short, so an unreachable server is reported in seconds. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
/**
 * Default budget of one call, from taking a connection to the last reply:
 * far above a healthy transaction, and with the connect timeout inside it, so
 * every call answers within 5 s even when the server is gone.
 */
export const DEFAULT_COMMAND_TIMEOUT_MS = 3000;
/** Longest schema name: the change feed's channel (`<schema>_changes`) must fit in 63 bytes. */
export const MAX_SCHEMA_CHARS = 48;

/** How the connection is encrypted, after libpq's sslmode. */
export type SslMode = "disable" | "require" | "verify-ca" | "verify-full";

/** Where a URL points, with the credentials and TLS settings node-postgres needs. */
export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  /** Percent-decoded; undefined when the URL has none. */
  password: string | undefined;
  database: string;
  sslMode: SslMode;
  /** Absolute path of the CA file (sslrootcert), if any. */
  rootCertPath: string | undefined;
}

/** Builds a CONFIG_INVALID error about `storage.config.<field>`. */
export function configError(
  field: string,
  message: string,
  details: Record<string, unknown> = {},
): CoordinatorError {
  return new CoordinatorError("CONFIG_INVALID", `storage.config.${field}: ${message}`, {
    field: `storage.config.${field}`,
    ...details,
  });
}

const SSL_MODES: readonly string[] = ["disable", "require", "verify-ca", "verify-full"];
const QUERY_PARAMS: readonly string[] = ["sslmode", "sslrootcert"];

/**
 * Parses a postgres:// or postgresql:// URL:
 * `postgres://user[:password]@host[:port][/database][?sslmode=...&sslrootcert=...]`.
 * The user is required (nothing is taken from the environment, so what
 * connects is exactly what the config says); the database defaults to the
 * user's name, as in libpq. `projectRoot` resolves a relative sslrootcert.
 */
export function parsePostgresUrl(url: string, projectRoot: string): PostgresTarget {
  const shown = JSON.stringify(redactUrl(url));
  const bad = (what: string) => configError("url", `${shown} ${what}`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // A password with an unescaped "/", "@" or "#" breaks parsing; say so.
    throw bad(
      "is not a valid URL (percent-encode special characters in the password, e.g. @ as %40).",
    );
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw bad("must start with postgres:// or postgresql://.");
  }
  // WHATWG keeps IPv6 brackets in hostname; sockets want the bare address.
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw bad("names no host (connections over unix sockets are not supported).");
  if (host.includes(",")) throw bad("names several hosts; give exactly one.");
  const port = u.port === "" ? 5432 : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad("has an invalid port.");
  if (u.hash) throw bad("must not have a fragment (#...).");
  let user: string;
  let password: string | undefined;
  let database: string;
  try {
    user = decodeURIComponent(u.username);
    password = u.password === "" ? undefined : decodeURIComponent(u.password);
    database = decodeURIComponent(u.pathname.slice(1));
  } catch {
    throw bad("has badly percent-encoded parts.");
  }
  if (user === "") throw bad("names no user: write postgres://USER:PASSWORD@host/database.");
  if (database.includes("/")) throw bad("must name one database: /name, with no further path.");
  const params = [...u.searchParams.keys()];
  const unknown = params.find((p) => !QUERY_PARAMS.includes(p));
  if (unknown !== undefined) {
    throw bad(
      `has an unsupported parameter ${JSON.stringify(unknown)} (supported: ${
        QUERY_PARAMS.join(", ")
      }).`,
    );
  }
  const rawMode = u.searchParams.get("sslmode") ?? "disable";
  if (rawMode === "prefer" || rawMode === "allow") {
    throw bad(
      `has sslmode=${rawMode}, which would fall back to an unencrypted connection; ` +
        "node-postgres cannot, so choose require, verify-ca, verify-full or disable.",
    );
  }
  if (!SSL_MODES.includes(rawMode)) {
    throw bad(`has sslmode=${rawMode}; use one of ${SSL_MODES.join(", ")}.`);
  }
  const rootCert = u.searchParams.get("sslrootcert") ?? undefined;
  if (rootCert !== undefined && rawMode === "disable") {
    throw bad("has sslrootcert but no sslmode: add sslmode=verify-full (or verify-ca, require).");
  }
  // As in libpq: with a root certificate, require verifies the chain too.
  const sslMode = rawMode === "require" && rootCert !== undefined
    ? "verify-ca"
    : rawMode as SslMode;
  return {
    host,
    port,
    user,
    password,
    database: database === "" ? user : database,
    sslMode,
    rootCertPath: rootCert === undefined
      ? undefined
      : isAbsolute(rootCert)
      ? rootCert
      : resolve(projectRoot, rootCert),
  };
}

/**
 * Checks a schema name: a plain lower-case SQL identifier, so it needs no
 * quoting anywhere and means the same to every tool. PostgreSQL reserves
 * `pg_*`; `public` and `information_schema` belong to others.
 */
export function checkSchemaName(schema: unknown): string {
  const bad = (why: string) => configError("schema", why);
  if (typeof schema !== "string") throw bad('must be a string such as "csc".');
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
    throw bad(
      `${JSON.stringify(schema)} must be a lower-case identifier: a letter or _, then ` +
        "letters, digits or _.",
    );
  }
  if (schema.length > MAX_SCHEMA_CHARS) {
    throw bad(`must be at most ${MAX_SCHEMA_CHARS} characters.`);
  }
  if (schema.startsWith("pg_") || schema === "public" || schema === "information_schema") {
    throw bad(`${JSON.stringify(schema)} is reserved; choose a schema of the adapter's own.`);
  }
  return schema;
}

const timeoutField = z
  .number({ error: "must be a number of milliseconds." })
  .int({ error: "must be a whole number of milliseconds." })
  .min(100, { error: "must be at least 100 ms." })
  .max(60_000, { error: "must be at most 60000 ms." })
  .optional();

/** The shape of `storage.config` for the postgres adapter. */
export const PostgresConfigSchema = z.strictObject({
  url: z
    .string({
      error: "is required: a postgres:// URL such as postgres://user:password@host:5432/db.",
    })
    .refine((u) => /^postgres(ql)?:\/\//.test(u), {
      error: "must be a postgres:// URL such as postgres://user:password@host:5432/db.",
    }),
  schema: z.string({ error: 'must be a string such as "csc".' }).default(DEFAULT_SCHEMA),
  connect_timeout_ms: timeoutField,
  command_timeout_ms: timeoutField,
});

/** A validated `storage.config`. */
export type PostgresConfig = z.infer<typeof PostgresConfigSchema>;

/**
 * Validates `storage.config`; CONFIG_INVALID names the first bad field. Only
 * paths and our own messages go out: zod never puts the URL text in a
 * message, so the password cannot leak through here.
 */
export function parsePostgresConfig(config: unknown): PostgresConfig {
  const parsed = PostgresConfigSchema.safeParse(config ?? {});
  if (parsed.success) {
    checkSchemaName(parsed.data.schema);
    return parsed.data;
  }
  throw adapterConfigError(
    "postgres",
    "url, schema, connect_timeout_ms and command_timeout_ms",
    parsed.error,
  );
}
