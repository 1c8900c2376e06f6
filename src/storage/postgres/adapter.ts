/**
 * The PostgreSQL adapter ("postgres"): scopes shared by every machine that
 * reaches one database, selected with
 *
 *   {"storage": {"adapter": "postgres",
 *                "config": {"url": "postgres://user:pass@host:5432/db", "schema": "csc"}}}
 *
 * The adapter creates and migrates its tables inside its own schema (`csc`
 * by default; several teams or projects can share a database through
 * different schemas). The layout and the exact privileges it needs are in
 * _schema.ts; each write is one transaction (_write.ts), each read one
 * statement (_read.ts), and the change feed is LISTEN/NOTIFY (_feed.ts).
 *
 * URL: `postgres://user[:password]@host[:port][/database]`, with optional
 * `sslmode` (disable, the default; require; verify-ca; verify-full) and
 * `sslrootcert` (a CA file; relative to the project root). Nothing is taken
 * from PG* environment variables or ~/.pgpass.
 *
 * Deno permissions: `--allow-net` (or `--allow-net=host:port`), plus
 * `--ignore-env=PGBINARY,PGREPLICATION` (or `--allow-env` for those two):
 * node-postgres reads them whenever it opens a connection, whatever the
 * config says, and Deno refuses the read under a narrow --allow-env list
 * unless it is told to ignore it. A missing flag is CONFIG_INVALID at start-up
 * naming it. A sslrootcert file also needs --allow-read for its path.
 *
 * Time: expiry is judged by the database server's clock, the one clock every
 * machine shares: this machine's clock plus the offset to the server's,
 * measured when the adapter starts and again at every sweep.
 *
 * Failure: every call answers within command_timeout_ms (3 s by default):
 * STORAGE_UNAVAILABLE naming host and port when the server is down, refusing,
 * frozen or unreachable; the pool reconnects by itself (_db.ts). A server
 * that is down at start-up does not stop the adapter from starting; the
 * tables are made on the first call that reaches it. Bad credentials, missing
 * privileges, a missing database or a certificate that does not verify are
 * CONFIG_INVALID saying what to fix. Commits are synchronous.
 *
 * Secrets: the password is handed to node-postgres as a function, never as a
 * URL; every URL shown goes through redactUrl, and every text from below is
 * scrubbed of the password (_errors.ts).
 *
 * @module
 */
import { CoordinatorError } from "../../core/errors.ts";
import type {} from "../../core/json.ts";
import { globToRegExp, validateKey, validateScope } from "../../core/scope.ts";
import type {
  AdapterLimits,
  DeleteScopeOptions,
  Entry,
  ListOptions,
  StorageAdapter,
} from "../contract.ts";
import type { AdapterFactory } from "../registry.ts";
import { batchWrites } from "../batch_writes.ts";
import { clockOffset } from "../clock.ts";
import { checkGuard, checkListOptions, checkRestoredEntry } from "../values.ts";
import {
  checkSchemaName,
  configError,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_SCHEMA,
  parsePostgresConfig,
  parsePostgresUrl,
  type PostgresTarget,
} from "./_config.ts";
import { createDb } from "./_db.ts";
import { createErrorMapper, isMissingObject } from "./_errors.ts";
import { createChangeFeed } from "./_feed.ts";
import { type PgContext, readEntries, readEntry, readKeys, readScopes } from "./_read.ts";
import { ensureSchema, tablesOf } from "./_schema.ts";
import { applyBatch, removeScope, restoreEntry, SWEEP_BATCH, sweepExpired } from "./_write.ts";

/** How often expired rows are purged and the clock offset measured again. */
export const DEFAULT_SWEEP_INTERVAL_MS = 30_000;

/** Options of createPostgresAdapter. */
export interface PostgresAdapterOptions {
  /** `postgres://user[:password]@host[:port][/database][?sslmode=...&sslrootcert=...]`. */
  url: string;
  /** The schema holding the adapter's tables; "csc" by default. */
  schema?: string;
  limits: AdapterLimits;
  /** How long opening one connection may take; 2000 ms by default. */
  connectTimeoutMs?: number;
  /** How long one call may take in all, from taking a connection to the last reply; 3000 ms by default. */
  commandTimeoutMs?: number;
  /** Where a relative sslrootcert resolves; the working directory by default. */
  projectRoot?: string;
  /**
   * A fixed clock in epoch ms, used as given (tests). Without it the adapter
   * uses this machine's clock corrected by its measured offset from the
   * server's (see localClock).
   */
  now?: () => number;
  /** This machine's clock; Date.now by default. */
  localClock?: () => number;
  /** Receives one line when the connection is lost or restored (already scrubbed). */
  log?: (line: string) => void;
  /** How often the sweep runs; DEFAULT_SWEEP_INTERVAL_MS by default. */
  sweepIntervalMs?: number;
}

/**
 * Creates the adapter: checks the config, connects, and creates or migrates
 * the schema. CONFIG_INVALID when the config cannot work; a server that is
 * merely unreachable is logged, and calls answer STORAGE_UNAVAILABLE until it
 * is back.
 */
export async function createPostgresAdapter(
  options: PostgresAdapterOptions,
): Promise<StorageAdapter> {
  const target = parsePostgresUrl(options.url, options.projectRoot ?? ".");
  const schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
  const { limits } = options;
  const log = options.log ?? (() => {});
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const errors = createErrorMapper({ target, url: options.url, schema, commandTimeoutMs });
  const ca = await readRootCert(target);
  const db = createDb({ target, ca, connectTimeoutMs, commandTimeoutMs, errors, log });
  const tables = tablesOf(schema);

  // Every machine must agree on when a lease or claim expires, so expiry
  // follows the server's clock. Until the first measurement the offset is 0.
  const localClock = options.localClock ?? Date.now;
  let offsetMs = 0;
  let offsetLogged = 0;
  const now = options.now ?? (() => localClock() + offsetMs);
  const ctx: PgContext = { db, tables, now, where: errors.where, schema };
  const feed = createChangeFeed({
    client: db.client,
    channel: tables.channel,
    channelName: tables.channelName,
    timeoutMs: commandTimeoutMs,
    where: errors.where,
    reason: errors.reason,
    log,
  });
  let closed = false;
  let ready: Promise<void> | null = null;
  let sweepTimer: ReturnType<typeof setTimeout> | undefined;

  async function measureClock(): Promise<void> {
    if (options.now) return;
    const before = localClock();
    const [row] = await db.run((q) =>
      q<{ ms: number }>("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms")
    );
    const after = localClock();
    offsetMs = clockOffset(before, Number(row.ms), after);
    if (Math.abs(offsetMs - offsetLogged) > 1000) {
      offsetLogged = offsetMs;
      log(
        `postgres at ${errors.where}: this machine's clock runs ${
          (Math.abs(offsetMs) / 1000).toFixed(1)
        } s ${
          offsetMs < 0 ? "ahead of" : "behind"
        } the server's; leases and expiries follow the server's clock.`,
      );
    }
  }

  /** Creates or migrates the schema and measures the clock, once per adapter (again after a failure). */
  function ensureReady(): Promise<void> {
    ready ??= (async () => {
      await ensureSchema({
        db,
        tables,
        schema,
        user: target.user,
        database: target.database,
        errors,
      });
      await measureClock();
    })().catch((err) => {
      ready = null;
      throw err;
    });
    return ready;
  }

  /** Runs one operation once the schema is ready; makes the schema again if it vanished. */
  async function call<T>(op: () => Promise<T>): Promise<T> {
    if (closed) {
      throw new CoordinatorError("STORAGE_UNAVAILABLE", "adapter is closed.", {
        adapter: "postgres",
      });
    }
    await ensureReady();
    try {
      return await op();
    } catch (err) {
      if (!isMissingObject(err)) throw err;
      // Dropped while we ran (a wiped or restored database): create it again;
      // versions stay above the old ones, because a lost counter is seeded
      // from the clock.
      log(`postgres at ${errors.where}: schema ${schema} vanished; creating it again.`);
      ready = null;
      await ensureReady();
      return await op();
    }
  }

  function scheduleSweep(delayMs: number): void {
    if (closed) return;
    // Jitter, so many servers do not sweep in lockstep.
    const timer = setTimeout(async () => {
      let full = false;
      try {
        await ensureReady();
        full = await sweepExpired(ctx) >= SWEEP_BATCH;
        await measureClock();
      } catch {
        // An outage or a refusal: the calls report it; the next sweep retries.
      }
      // A full batch means more are waiting: come back soon.
      scheduleSweep(full ? 1000 : sweepIntervalMs);
    }, delayMs + Math.floor(Math.random() * delayMs * 0.1));
    // The sweep is housekeeping: it never keeps a process alive.
    Deno.unrefTimer(timer);
    sweepTimer = timer;
  }
  const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;

  try {
    await ensureReady();
  } catch (err) {
    if (!(err instanceof CoordinatorError) || err.code !== "STORAGE_UNAVAILABLE") {
      await feed.close();
      await db.close();
      throw err;
    }
    // An outage heals: start anyway and let the calls report it until then.
    log(`${err.message} Serving anyway; calls answer STORAGE_UNAVAILABLE until it is back.`);
  }
  scheduleSweep(sweepIntervalMs);

  return {
    name: "postgres",
    now,

    ...batchWrites(
      limits,
      (s, ops, updatedBy, guard) => call(() => applyBatch(ctx, s, ops, updatedBy, guard)),
    ),

    async retrieve(scope, key): Promise<Entry | null> {
      const s = validateScope(scope);
      const k = validateKey(key);
      return await call(() => readEntry(ctx, s, k));
    },

    async listKeys(scope, options?: ListOptions): Promise<string[]> {
      const s = validateScope(scope);
      const { prefix, limit } = checkListOptions(options);
      return await call(() => readKeys(ctx, s, prefix, limit));
    },

    async listEntries(scope, options?: ListOptions) {
      const s = validateScope(scope);
      const { prefix, limit } = checkListOptions(options);
      return await call(() => readEntries(ctx, s, prefix, limit));
    },

    async listScopes(pattern?: string): Promise<string[]> {
      const regex = pattern === undefined ? null : globToRegExp(pattern);
      return await call(() => readScopes(ctx, pattern, regex));
    },

    async restore(scope, key, entry: Entry): Promise<boolean> {
      const s = validateScope(scope);
      const k = validateKey(key);
      const { text, expiresMs, heldBy } = checkRestoredEntry(entry, limits);
      return await call(async () => {
        if (expiresMs !== null && expiresMs <= now()) return false;
        await restoreEntry(ctx, s, k, text, entry, expiresMs, heldBy);
        return true;
      });
    },

    async deleteScope(scope, options: DeleteScopeOptions = {}): Promise<boolean> {
      const s = validateScope(scope);
      const guard = checkGuard(options.guard);
      return await call(() => removeScope(ctx, s, guard));
    },

    watch(listener) {
      if (closed) return () => {};
      return feed.watch(listener);
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(sweepTimer);
      await feed.close();
      await db.close();
    },
  };
}

/** Reads the sslrootcert file; CONFIG_INVALID names the path when it cannot. */
async function readRootCert(target: PostgresTarget): Promise<string | undefined> {
  if (target.rootCertPath === undefined) return undefined;
  try {
    return await Deno.readTextFile(target.rootCertPath);
  } catch (err) {
    throw configError(
      "url",
      `sslrootcert ${JSON.stringify(target.rootCertPath)} cannot be read (${(err as Error).name}: ${
        (err as Error).message
      }). Give the path of the CA's PEM file (relative paths ` +
        `start at the project root; the server needs --allow-read for it).`,
    );
  }
}

/**
 * Builds the postgres adapter from `storage.config` (url, schema,
 * connect_timeout_ms, command_timeout_ms).
 */
export const postgresAdapterFactory: AdapterFactory = async (config, context) => {
  const c = parsePostgresConfig(config);
  return await createPostgresAdapter({
    url: c.url,
    schema: c.schema,
    limits: context.limits,
    connectTimeoutMs: c.connect_timeout_ms,
    commandTimeoutMs: c.command_timeout_ms,
    projectRoot: context.projectRoot,
    log: context.log,
  });
};
