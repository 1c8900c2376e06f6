/**
 * Turning whatever node-postgres, the network or Deno throws into the errors
 * users see, with the password scrubbed from every text that came from below.
 *
 * Policy: what will not heal by waiting (credentials, privileges, a missing
 * database, TLS verification, a missing Deno permission) is CONFIG_INVALID
 * saying what to fix; an outage is STORAGE_UNAVAILABLE naming host and port;
 * tables that are not as the adapter made them are CORRUPT_STATE.
 *
 * @module
 */
import { CoordinatorError } from "../../core/errors.ts";
import { redactUrl } from "../../core/redact.ts";
import type { PostgresTarget } from "./_config.ts";
import pg from "./_pg.ts";

/** The environment variables node-postgres reads on every connect, whatever the config says. */
export const PG_ENV_READS = ["PGBINARY", "PGREPLICATION"] as const;

/** SQLSTATEs of a missing schema or table: dropped or wiped behind the adapter's back. */
const MISSING_OBJECT = new Set(["3F000", "42P01"]);

/** What the mapper needs to know about the connection. */
export interface ErrorContext {
  target: PostgresTarget;
  /** The configured URL, only ever shown through redactUrl. */
  url: string;
  schema: string;
  commandTimeoutMs: number;
}

/** Where a statement stood when it failed, which decides what a caller may assume. */
export interface FailurePhase {
  /** The failure came while COMMIT was in flight: the write may or may not have landed. */
  committing: boolean;
}

/** Maps failures to CoordinatorErrors for one adapter. */
export interface ErrorMapper {
  /** "host:port", as every message names it. */
  readonly where: string;
  /** Removes the password from any text that came from below. */
  scrub(text: string): string;
  /** The STORAGE_UNAVAILABLE error for an unreachable server. */
  unavailable(reason: string, cause?: unknown): CoordinatorError;
  /** Maps anything a call threw; `phase` tells whether a write's outcome is unknown. */
  map(err: unknown, phase?: FailurePhase): CoordinatorError;
  /** A short, scrubbed reason for a log line. */
  reason(err: unknown): string;
}

/** The SQLSTATE of a server error, or undefined for anything else. */
export function sqlState(err: unknown): string | undefined {
  return err instanceof pg.DatabaseError ? err.code : undefined;
}

/** True when a server error says our schema or a table of it is missing. */
export function isMissingObject(err: unknown): boolean {
  const code = err instanceof CoordinatorError ? err.details.sqlstate : sqlState(err);
  return typeof code === "string" && MISSING_OBJECT.has(code);
}

/** True for the transient conflicts PostgreSQL asks clients to retry (deadlock, serialization). */
export function isRetryableConflict(err: unknown): boolean {
  const code = sqlState(err);
  return code === "40P01" || code === "40001";
}

/** Quotes an identifier for SQL, also in the statements a message tells a person to run. */
export function ident(name: string): string {
  return pg.escapeIdentifier(name);
}

/** The GRANT statements a role needs to use an existing, migrated schema. */
export function grantsFor(schema: string, user: string): string {
  return `GRANT USAGE ON SCHEMA ${ident(schema)} TO ${ident(user)}; ` +
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${ident(schema)} TO ${
      ident(user)
    };`;
}

/** Creates the mapper for one adapter. */
export function createErrorMapper(ctx: ErrorContext): ErrorMapper {
  const { target } = ctx;
  const where = `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
  const shownUrl = redactUrl(ctx.url);
  // The password as decoded, as encodeURIComponent writes it, and as the URL
  // spells it (which may escape other characters).
  const raw = /^[a-z]+:\/\/[^:@/]*:([^]*)@/i.exec(ctx.url)?.[1];
  const secrets = [target.password, target.password && encodeURIComponent(target.password), raw]
    .filter((s): s is string => typeof s === "string" && s.length > 0);
  const scrub = (text: string): string =>
    secrets.reduce((acc, secret) => acc.split(secret).join("***"), text);
  const base = { adapter: "postgres", host: target.host, port: target.port };

  function reason(err: unknown): string {
    return scrub(reasonOf(err));
  }

  function unavailable(why: string, cause?: unknown, details: Record<string, unknown> = {}) {
    return new CoordinatorError(
      "STORAGE_UNAVAILABLE",
      `postgres at ${where} is unreachable: ${why}. Check that PostgreSQL is running and ` +
        `reachable from this machine (storage.config.url is ${shownUrl}); the adapter ` +
        `reconnects by itself.`,
      { ...base, ...details },
      cause === undefined ? undefined : { cause: scrubbedError(cause, scrub) },
    );
  }

  /** STORAGE_UNAVAILABLE for a server that answered but cannot serve the call now. */
  function refused(why: string, cause: unknown, details: Record<string, unknown> = {}) {
    return new CoordinatorError(
      "STORAGE_UNAVAILABLE",
      `postgres at ${where} refused the call: ${why}. Check the server's state ` +
        `(storage.config.url is ${shownUrl}); the next call tries again.`,
      { ...base, ...details },
      { cause: scrubbedError(cause, scrub) },
    );
  }

  function config(message: string, cause: unknown, details: Record<string, unknown> = {}) {
    return new CoordinatorError(
      "CONFIG_INVALID",
      `storage.config.url: ${message}`,
      { field: "storage.config.url", ...base, ...details },
      { cause: scrubbedError(cause, scrub) },
    );
  }

  function mapServerError(err: InstanceType<typeof pg.DatabaseError>, phase?: FailurePhase) {
    const code = err.code ?? "";
    const text = scrub(err.message);
    const details = { sqlstate: code };
    if (code === "28P01" || code === "28000") {
      // Bad credentials do not heal by retrying: it is the config that is wrong.
      return config(
        `postgres at ${where} refused the credentials of ${shownUrl} (${text}). Fix the user ` +
          `name or password (or the server's pg_hba.conf, if it does not admit this host).`,
        err,
        details,
      );
    }
    if (code === "3D000") {
      return config(
        `postgres at ${where} has no database ${ident(target.database)} (${text}). Create it ` +
          `(CREATE DATABASE ${ident(target.database)};) or fix the database in the URL's path.`,
        err,
        details,
      );
    }
    if (code === "42501") {
      return config(
        `the user ${ident(target.user)} lacks privileges at postgres at ${where} (${text}). ` +
          `Grant them: ${grantsFor(ctx.schema, target.user)}`,
        err,
        details,
      );
    }
    if (code === "57014") {
      return refused(
        `a statement ran longer than ${ctx.commandTimeoutMs} ms and was cancelled, so the ` +
          `call was rolled back (the server is overloaded or a lock is held)`,
        err,
        details,
      );
    }
    if (code === "55P03") {
      return refused(
        `a lock stayed taken for ${ctx.commandTimeoutMs} ms (another transaction holds it), ` +
          `so the call was rolled back`,
        err,
        details,
      );
    }
    if (code === "25006") {
      return refused(
        `the server is read-only (${text}); point storage.config.url at the primary`,
        err,
        details,
      );
    }
    if (MISSING_OBJECT.has(code) || code.startsWith("42") || code.startsWith("23")) {
      return new CoordinatorError(
        "CORRUPT_STATE",
        `the tables of schema ${ident(ctx.schema)} at postgres at ${where} are not as this ` +
          `adapter made them (${text}). Restore them from a backup, or drop the schema ` +
          `(DROP SCHEMA ${ident(ctx.schema)} CASCADE) to start empty.`,
        { ...base, schema: ctx.schema, ...details },
        { cause: scrubbedError(err, scrub) },
      );
    }
    // Shutting down, starting up, out of connections or resources, or a
    // conflict that kept recurring: the server is there but cannot serve us.
    const unknown = phase?.committing ? " (the write may or may not have been applied)" : "";
    return refused(`${text} [${code}]${unknown}`, err, details);
  }

  function map(err: unknown, phase?: FailurePhase): CoordinatorError {
    if (err instanceof CoordinatorError) return err;
    if (err instanceof pg.DatabaseError) return mapServerError(err, phase);
    if (err instanceof Deno.errors.NotCapable) {
      const text = scrub((err as Error).message);
      const flag = /\benv\b/.test(text)
        ? `--ignore-env=${PG_ENV_READS.join(",")} (node-postgres reads those variables ` +
          `whenever it connects; ignoring them keeps the environment out of it)`
        : `--allow-net=${where}`;
      // Not the config's fault but the command line's: the field is the adapter.
      return new CoordinatorError(
        "CONFIG_INVALID",
        `storage.adapter: Deno refused a permission the postgres adapter needs (${text}). ` +
          `Run deno with ${flag}.`,
        { field: "storage.adapter", ...base },
        { cause: scrubbedError(err, scrub) },
      );
    }
    const why = reason(err);
    if ((err as { code?: unknown })?.code === "EPERM" && /getaddrinfo/.test(why)) {
      // Deno's node:dns refuses a name --allow-net does not list.
      return new CoordinatorError(
        "CONFIG_INVALID",
        `storage.adapter: Deno refused to resolve ${target.host} (${why}). Run deno with ` +
          `--allow-net=${where}.`,
        { field: "storage.adapter", ...base },
        { cause: scrubbedError(err, scrub) },
      );
    }
    if (isTlsVerification(err)) {
      return config(
        `the TLS certificate of postgres at ${where} could not be verified (${why}). Give the ` +
          `CA file with sslrootcert=/path/to/ca.pem, or use sslmode=require to encrypt ` +
          `without verifying.`,
        err,
      );
    }
    if (/^SASL: .*password/i.test(why)) {
      // node-postgres refuses SCRAM without a password before asking the server.
      return config(
        `postgres at ${where} asks for a password, and ${shownUrl} has none. Add it: ` +
          `postgres://user:PASSWORD@host/database (percent-encode special characters).`,
        err,
      );
    }
    if (/does not support SSL/i.test(why)) {
      return config(
        `postgres at ${where} does not accept TLS (${why}). Turn ssl on in the server, or ` +
          `use sslmode=disable.`,
        err,
      );
    }
    const unknown = phase?.committing ? " (the write may or may not have been applied)" : "";
    return unavailable(`${why}${unknown}`, err);
  }

  return { where, scrub, unavailable, map, reason };
}

/** Node's and rustls's names for a certificate that did not verify. */
function isTlsVerification(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  const text = err instanceof Error ? err.message : "";
  return (typeof code === "string" &&
    /^(ERR_TLS_CERT|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_)/.test(code)) ||
    /certificate|UnknownIssuer|NotValidForName/i.test(text);
}

/** A short human reason for a low-level error, such as "connect ECONNREFUSED 127.0.0.1:5432". */
export function reasonOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return reasonOf(err.errors[0]);
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const text = err.message || err.name;
  return typeof code === "string" && !text.includes(code) ? `${code}: ${text}` : text;
}

/** A copy of an error for `cause`, with the password scrubbed from its message and nothing else. */
function scrubbedError(err: unknown, scrub: (s: string) => string): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const copy = new Error(scrub(reasonOf(e)));
  copy.name = e.name;
  return copy;
}
