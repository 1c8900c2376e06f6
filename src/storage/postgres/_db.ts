/**
 * The connection pool, and the one way every call reaches the server: a
 * budget of `commandTimeoutMs` from taking a connection to the last reply.
 *
 * Failure policy: nothing waits on a dead server. Taking a connection is
 * bounded by the connect timeout, each statement by the server's
 * statement_timeout and lock_timeout, and the whole call by a timer that
 * destroys the connection when it fires, so a frozen server or a silent
 * network cannot hold a call. A connection that failed is never reused; the
 * pool opens a fresh one for the next call, which is how the adapter recovers
 * by itself.
 *
 * Size: at most POOL_SIZE connections per adapter (plus one for the change
 * feed while anything watches), because agents run many server processes
 * against one database.
 *
 * @module
 */
import { CoordinatorError } from "../../core/errors.ts";
import type { PostgresTarget } from "./_config.ts";
import {
  type ErrorMapper,
  type FailurePhase,
  isRetryableConflict,
  PG_ENV_READS,
} from "./_errors.ts";
import pg, { type ClientConfig, type PoolClient } from "./_pg.ts";

/** Most pooled connections one adapter holds. */
export const POOL_SIZE = 2;
/** A pooled connection unused this long is closed, so idle servers hold none. */
const IDLE_CLOSE_MS = 30_000;
/** Attempts of one transaction that hit a deadlock, a serialization failure or a stale connection. */
const MAX_ATTEMPTS = 3;

/** Runs one statement and returns its rows. */
export type Query = <R = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<R[]>;

/** Options of createDb. */
export interface DbOptions {
  target: PostgresTarget;
  /** PEM text of the CA (sslrootcert), if any. */
  ca: string | undefined;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  errors: ErrorMapper;
  log: (line: string) => void;
}

/** The pool with its call budget. */
export interface Db {
  /** Runs `fn` on one connection outside a transaction: each statement commits by itself. */
  run<T>(fn: (q: Query) => Promise<T>): Promise<T>;
  /** Runs `fn` in one transaction, committed when it returns and rolled back when it throws. */
  transaction<T>(fn: (q: Query) => Promise<T>): Promise<T>;
  /** A new connection outside the pool (for LISTEN), configured like the pooled ones. */
  client(): InstanceType<typeof pg.Client>;
  /** Closes every connection. */
  close(): Promise<void>;
}

/** Thrown into a call whose budget ran out. */
class BudgetExceeded extends Error {}

/**
 * The settings of every connection. Everything is given explicitly, so what
 * connects is what the config says: the password is a function, so
 * node-postgres never looks for PGPASSWORD or ~/.pgpass, and only the two
 * variables of PG_ENV_READS are still read (see the adapter's module comment).
 */
export function clientConfig(options: DbOptions): ClientConfig {
  const { target, commandTimeoutMs } = options;
  const password = target.password ?? "";
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    database: target.database,
    password: () => password,
    ssl: sslOptions(target, options.ca),
    // Also keeps node-postgres from reading PGSSLNEGOTIATION.
    sslnegotiation: "postgres",
    connectionTimeoutMillis: Math.min(options.connectTimeoutMs, commandTimeoutMs),
    // The server gives up on a statement or a lock wait within the budget of
    // a call, and drops a transaction left open by a frozen client, so its
    // locks cannot block every other process for long.
    statement_timeout: commandTimeoutMs,
    lock_timeout: commandTimeoutMs,
    idle_in_transaction_session_timeout: Math.max(10_000, 3 * commandTimeoutMs),
    application_name: "claude-session-coordinator",
    client_encoding: "UTF8",
    // An acknowledged write is on disk (or on the synchronous standbys) even
    // when the server's default is off: nothing acknowledged may be lost.
    options: "-c synchronous_commit=on",
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  } as ClientConfig;
}

/** node-postgres's TLS options for a target's sslmode. */
function sslOptions(target: PostgresTarget, ca: string | undefined): ClientConfig["ssl"] {
  switch (target.sslMode) {
    case "disable":
      return false;
    case "require":
      return { rejectUnauthorized: false };
    case "verify-ca":
      // The chain must lead to the CA; the name in the certificate is not checked.
      return { rejectUnauthorized: true, ca, checkServerIdentity: () => undefined };
    case "verify-full":
      return { rejectUnauthorized: true, ca };
  }
}

/** Creates the pool; nothing connects until the first call. */
export function createDb(options: DbOptions): Db {
  const { errors, commandTimeoutMs } = options;
  const config = clientConfig(options);
  probeEnvironment(config, errors);
  const pool = new pg.Pool({
    ...config,
    max: POOL_SIZE,
    idleTimeoutMillis: IDLE_CLOSE_MS,
    // Idle connections do not keep a process alive that has nothing else to do.
    allowExitOnIdle: true,
  });
  let closed = false;
  /** Whether the last call reached the server; "unknown" until one did or did not. */
  let health: "unknown" | "up" | "down" = "unknown";

  // A connection that dies while checked out emits 'error' too; without a
  // listener that would crash the process. The call sees the failure anyway.
  pool.on("connect", (client) => client.on("error", () => {}));
  // An idle connection died (a restart, a network drop): the pool drops it.
  pool.on("error", (err) => lost(err));

  function lost(err: unknown): void {
    const was = health;
    health = "down";
    // Before the first answer, the adapter's start-up says it in its own words.
    if (was !== "up" || closed) return;
    options.log(
      `postgres at ${errors.where}: connection lost (${errors.reason(err)}); calls answer ` +
        `STORAGE_UNAVAILABLE until it is back.`,
    );
  }

  function restored(): void {
    const was = health;
    health = "up";
    if (was === "down") options.log(`postgres at ${errors.where}: connection restored.`);
  }

  /**
   * Runs `fn` with a pooled connection within the budget, retrying what is
   * safe to retry: a transaction that never reached COMMIT, after a deadlock
   * or serialization failure or on a connection that turned out dead.
   */
  async function run<T>(
    fn: (q: Query, phase: FailurePhase & { broken: boolean }) => Promise<T>,
    budgetMs: number,
    inTransaction: boolean,
  ): Promise<T> {
    if (closed) {
      throw new CoordinatorError("STORAGE_UNAVAILABLE", "adapter is closed.", {
        adapter: "postgres",
      });
    }
    let expired = false;
    let phase: FailurePhase & { broken: boolean } = { committing: false, broken: false };
    /** Gives the current connection back (destroyed when it failed); idempotent per connection. */
    let giveBack: (destroy: boolean) => void = () => {};
    const work = (async () => {
      for (let attempt = 1;; attempt++) {
        const client: PoolClient = await pool.connect();
        let given = false;
        giveBack = (destroy) => {
          if (given) return;
          given = true;
          client.release(destroy ? true : undefined);
        };
        if (expired) {
          giveBack(true);
          throw new BudgetExceeded();
        }
        phase = { committing: false, broken: false };
        const current = phase;
        const q: Query = async <R>(text: string, params?: unknown[]) => {
          try {
            return (await client.query(text, params)).rows as R[];
          } catch (err) {
            // A server error leaves the connection usable; anything else does not.
            if (!(err instanceof pg.DatabaseError)) current.broken = true;
            throw err;
          }
        };
        try {
          const result = await fn(q, current);
          giveBack(false);
          return result;
        } catch (err) {
          giveBack(current.broken);
          const retry = !expired && attempt < MAX_ATTEMPTS && !current.committing &&
            (isRetryableConflict(err) || (current.broken && attempt === 1));
          if (!retry) throw err;
        }
      }
    })();
    // The race below may abandon `work`; it must not become an unhandled rejection.
    work.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const budget = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        // A statement may hang on a frozen server: destroying the socket ends it.
        giveBack(true);
        reject(new BudgetExceeded());
      }, budgetMs);
    });
    try {
      const result = await Promise.race([work, budget]);
      restored();
      return result;
    } catch (err) {
      if (err instanceof BudgetExceeded) {
        // Before COMMIT, the server rolls back a transaction whose connection
        // is gone; during it, the outcome is unknown.
        const outcome = phase.committing
          ? " (the write may or may not have been applied)"
          : inTransaction
          ? " (it was not applied)"
          : "";
        lost(new Error(`no reply within ${budgetMs} ms`));
        throw errors.unavailable(`no reply within ${budgetMs} ms${outcome}`);
      }
      const mapped = errors.map(err, phase);
      if (mapped.code === "STORAGE_UNAVAILABLE") lost(err);
      // A refusal (a conflict, a failed guard, a server error) is an answer.
      else if (err instanceof CoordinatorError || err instanceof pg.DatabaseError) restored();
      throw mapped;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    run: (fn) => run((q) => fn(q), commandTimeoutMs, false),
    transaction: (fn) =>
      run(
        async (q, phase) => {
          await q("BEGIN");
          let result;
          try {
            result = await fn(q);
          } catch (err) {
            if (!phase.broken) {
              await q("ROLLBACK").catch(() => {
                phase.broken = true;
              });
            }
            throw err;
          }
          phase.committing = true;
          await q("COMMIT");
          phase.committing = false;
          return result;
        },
        commandTimeoutMs,
        true,
      ),
    client: () => new pg.Client(config),
    async close() {
      if (closed) return;
      closed = true;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        pool.end().catch(() => {}),
        new Promise((r) => timer = setTimeout(r, commandTimeoutMs)),
      ]);
      clearTimeout(timer);
    },
  };
}

/**
 * node-postgres reads PG_ENV_READS from the environment whenever it builds a
 * connection, and Deno refuses that unless the variables are allowed or
 * ignored. Building one client (it does not connect) finds out at start-up,
 * with a message saying which flag to add, instead of failing every call.
 */
function probeEnvironment(config: ClientConfig, errors: ErrorMapper): void {
  try {
    new pg.Client(config);
  } catch (err) {
    throw errors.map(err);
  }
}

export { PG_ENV_READS };
