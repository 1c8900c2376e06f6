/**
 * The Redis adapter ("redis"): scopes shared by every machine that reaches one
 * Redis server. Each key is its own Redis hash with a real Redis expiry; every
 * write and listing is one Lua script, so compare-and-set, guards and batches
 * are atomic on the server. The key layout and the change channel are
 * documented in scripts.ts; the ACL a Redis user needs in _acl.ts.
 *
 * Failure policy: nothing waits on a dead server. The offline queue is off, so
 * while the connection is down every call rejects at once with
 * STORAGE_UNAVAILABLE; a connect timeout and a per-command timeout bound the
 * rest, and a refused connection is noticed at once. The client reconnects by
 * itself in the background. A configuration that cannot work (bad
 * credentials, an ACL without a permission the adapter needs) fails start-up
 * with CONFIG_INVALID instead.
 *
 * Secrets: the URL's password is only ever handed to the client as a field;
 * every URL shown to a person goes through redactUrl, and every error text
 * from below is scrubbed of the password before it is shown or logged.
 *
 * @module
 */
import { DisconnectsClientError, ErrorReply } from "redis";
import { redactUrl } from "../../core/redact.ts";
import { CoordinatorError } from "../../core/errors.ts";
import type { JsonValue } from "../../core/json.ts";
import { globToRegExp, validateKey, validateScope } from "../../core/scope.ts";
import {
  type AdapterLimits,
  type BatchResult,
  type DeleteScopeOptions,
  type Entry,
  type ExportedKey,
  type Guard,
  type ListOptions,
  type StorageAdapter,
  versionSeed,
} from "../contract.ts";
import type { AdapterFactory } from "../registry.ts";
import { batchWrites } from "../batch_writes.ts";
import { clockOffset } from "../clock.ts";
import {
  type CheckedOp,
  checkGuard,
  checkListOptions,
  checkRestoredEntry,
  compareStrings,
  expiryFromTtl,
  guardFailed,
  versionConflict,
} from "../values.ts";
import { aclRules, describeMissing, MissingPermissions, permissionOf } from "./_acl.ts";
import {
  AUTH_FAILURE,
  CommandTimeout,
  isOffline,
  isTimeout,
  openConnection,
  reasonOf,
  type RedisConnection,
  scrubbedError,
  waitUntilReady,
  withTimeout,
} from "./_client.ts";
import { parseRedisConfig } from "./_config.ts";
import { createChangeFeed } from "./_feed.ts";
import { hostPort, parseRedisUrl } from "./_url.ts";
import {
  DELETE_SCOPE,
  lexHex,
  LIST,
  LIVE_SCOPES,
  type LuaScript,
  PROBE,
  RESTORE,
  WRITE,
} from "./scripts.ts";

export { DEFAULT_PREFIX } from "./_config.ts";

/** Options of createRedisAdapter. */
export interface RedisAdapterOptions {
  /** `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS. */
  url: string;
  /** Prepended to every Redis key and to the change channel, so several deployments can share a server. */
  prefix: string;
  limits: AdapterLimits;
  /** How long one connection attempt may take; 2000 ms by default. */
  connectTimeoutMs?: number;
  /** How long one command may take before it fails; 3000 ms by default. */
  commandTimeoutMs?: number;
  /**
   * A fixed clock in epoch milliseconds, for updated_at, expiry and version
   * seeds, used as given (tests). Without it the adapter uses this machine's
   * clock corrected by its measured offset from the Redis server's clock (see
   * localClock).
   */
  now?: () => number;
  /** This machine's clock; Date.now by default. Its offset from Redis's TIME is measured on connect. */
  localClock?: () => number;
  /** Receives one line when the connection is lost or restored, and the like (already redacted). */
  log?: (line: string) => void;
}

/** Default connect timeout: short, so an unreachable server is reported in seconds. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
/** Default command timeout: far above a healthy round trip, well under a person's patience. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 3000;
/** Scope names list_scopes checks per script call, bounding one script's run time. */
const LIVE_BATCH = 200;
/** SSCAN page size. */
const SCAN_COUNT = 500;
/** The WRITE script's reply tags (see scripts.ts). */
const CONFLICT = 0;
const GUARD_FAILED = 2;

/**
 * Creates the Redis adapter and connects. An unreachable server is no error:
 * the adapter starts degraded (calls answer STORAGE_UNAVAILABLE until the
 * server is back). Bad credentials or a missing ACL permission throw
 * CONFIG_INVALID naming what is wrong.
 *
 * Needs network access to the Redis host (`--allow-net`).
 *
 * @example
 * ```ts
 * const adapter = await createRedisAdapter({
 *   url: "redis://127.0.0.1:6379",
 *   prefix: "csc:",
 *   limits: { maxValueBytes: 1024 * 1024 },
 * });
 * await adapter.store("team/notes", "today", { done: 3 });
 * await adapter.close();
 * ```
 */
export async function createRedisAdapter(options: RedisAdapterOptions): Promise<StorageAdapter> {
  const target = parseRedisUrl(options.url);
  const { limits, prefix } = options;
  // Every machine sharing a Redis must agree on when a lease or claim
  // expires, so liveness follows the server's clock: the local clock plus the
  // offset measured with TIME at each (re)connect. Without TIME permission
  // (a narrow ACL) the offset stays 0 and the local clock decides.
  const localClock = options.localClock ?? Date.now;
  let offsetMs = 0;
  const now = options.now ?? (() => localClock() + offsetMs);
  const log = options.log ?? (() => {});
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const where = hostPort(target);
  const shownUrl = redactUrl(options.url);
  const secrets = [target.password, target.password && encodeURIComponent(target.password)]
    .filter((s): s is string => typeof s === "string" && s.length > 0);

  /** Removes the password from any text that came from below. */
  const scrub = (text: string): string =>
    secrets.reduce((acc, secret) => acc.split(secret).join("***"), text);

  const scopesKey = prefix + "scopes";
  const channel = prefix + "changes";
  const valueKey = (scope: string, key: string) => `${prefix}k:${scope}\u0000${key}`;
  const valuePrefix = (scope: string) => `${prefix}k:${scope}\u0000`;
  const indexKey = (scope: string) => `${prefix}i:${scope}`;
  const lexKey = (scope: string) => `${prefix}l:${scope}`;
  const metaKey = (scope: string) => `${prefix}m:${scope}`;

  // Connection state lives in this closure. `client` is replaced when a
  // command times out (see send), so it is a `let`.
  let lastError = "not connected yet";
  let wasReady = false;
  let closed = false;
  let client = openClient();

  /** Creates a client with the listeners every client needs; does not connect. */
  function openClient(): RedisConnection {
    const c = openConnection(target, { connectTimeoutMs, commandTimeoutMs });
    // Without an 'error' listener node-redis's EventEmitter would throw and
    // crash the process on the first dropped connection.
    c.on("error", (err) => {
      if (c !== client) return; // a replaced client's last words
      lastError = scrub(reasonOf(err));
      if (wasReady) {
        wasReady = false;
        log(`redis at ${where}: connection lost (${lastError}); reconnecting.`);
      }
    });
    c.on("ready", () => {
      if (c !== client) return;
      if (lastError !== "not connected yet" && !wasReady) {
        log(`redis at ${where}: connection restored.`);
      }
      wasReady = true;
      void measureClockOffset(c);
    });
    return c;
  }

  /** Measures this machine's clock against the server's TIME (half the round trip as the error). */
  async function measureClockOffset(c: RedisConnection): Promise<void> {
    if (options.now) return;
    try {
      const before = localClock();
      const sent = c.sendCommand<string[]>(["TIME"]);
      sent.catch(() => {}); // the timeout below may abandon it
      const reply = await withTimeout(sent, commandTimeoutMs);
      const after = localClock();
      const serverMs = Number(reply[0]) * 1000 + Math.floor(Number(reply[1]) / 1000);
      if (!Number.isFinite(serverMs)) return;
      offsetMs = clockOffset(before, serverMs, after);
      if (Math.abs(offsetMs) > 1000) {
        log(
          `redis at ${where}: this machine's clock runs ${
            (Math.abs(offsetMs) / 1000).toFixed(1)
          } s ${
            offsetMs < 0 ? "ahead of" : "behind"
          } the server's; leases and expiries follow the server's clock.`,
        );
      }
    } catch (err) {
      log(
        `redis at ${where}: could not read the server's clock (${
          scrub(reasonOf(err))
        }); expiries follow this machine's clock. Allow +time in the ACL to fix this.`,
      );
    }
  }

  /**
   * Drops a connection a command timed out on and starts a fresh one. node-redis
   * waits for a written command's reply forever, so a server that stopped
   * answering without closing the socket (frozen, or a network partition that
   * drops packets) would otherwise keep the adapter stuck until TCP gives up,
   * minutes later. The new client reconnects in the background.
   */
  function replaceClient(stale: RedisConnection): void {
    if (closed || client !== stale) return; // already replaced by a concurrent timeout
    if (wasReady) log(`redis at ${where}: no reply within ${commandTimeoutMs} ms; reconnecting.`);
    wasReady = false;
    lastError = `no reply within ${commandTimeoutMs} ms`;
    client = openClient();
    client.connect().catch(() => {}); // failures reach the 'error' listener; it retries itself
    stale.destroy();
  }

  function unavailable(reason: string, cause?: unknown): CoordinatorError {
    return new CoordinatorError(
      "STORAGE_UNAVAILABLE",
      `redis at ${where} is unreachable: ${reason}. Check that redis-server is running and ` +
        `reachable from this machine (storage.config.url is ${shownUrl}); the adapter ` +
        `reconnects by itself.`,
      { adapter: "redis", host: target.host, port: target.port },
      cause instanceof Error ? { cause: scrubbedError(cause, scrub) } : undefined,
    );
  }

  function corruptKey(redisKey: string, what: string): CoordinatorError {
    return new CoordinatorError(
      "CORRUPT_STATE",
      `redis key ${JSON.stringify(redisKey)} at ${where}: ${what} Repair or delete that key ` +
        `(delete_scope removes the whole scope).`,
      { adapter: "redis", redis_key: redisKey },
    );
  }

  /** Maps anything a command threw to a CoordinatorError; `redisKey` names the key of a plain command. */
  function mapError(err: unknown, redisKey?: string): CoordinatorError {
    if (err instanceof CoordinatorError) return err;
    if (closed) {
      return new CoordinatorError("STORAGE_UNAVAILABLE", "adapter is closed.", {
        adapter: "redis",
      });
    }
    const message = err instanceof Error ? err.message : String(err);
    const marker = /CSC_CORRUPT ([0-9a-f]+) ([^]*?)(?: script: [0-9a-f]+, on @user_script:\d+\.)?$/
      .exec(message);
    if (marker) return corruptKey(fromHex(marker[1]), `${marker[2].trim()}.`);
    if (err instanceof ErrorReply) {
      if (redisKey !== undefined && /^WRONGTYPE\b/.test(message)) {
        return corruptKey(redisKey, "is not a hash (WRONGTYPE).");
      }
      // LOADING, BUSY, OOM, READONLY, NOAUTH, WRONGPASS, NOPERM...: the server
      // is there but cannot serve us; the caller can only wait or fix the server.
      return new CoordinatorError(
        "STORAGE_UNAVAILABLE",
        `redis at ${where} refused the command: ${scrub(message)}. Check the server's state ` +
          `and the credentials in storage.config.url (${shownUrl}).`,
        { adapter: "redis", host: target.host, port: target.port },
        { cause: scrubbedError(err, scrub) },
      );
    }
    // Offline: the command was never sent. Otherwise it may have reached the
    // server before the connection failed, so a write's outcome is unknown.
    if (isOffline(err)) return unavailable(lastError, err);
    const reason = isTimeout(err)
      ? `no reply within ${commandTimeoutMs} ms`
      : err instanceof DisconnectsClientError
      ? lastError
      : scrub(reasonOf(err));
    return unavailable(`${reason} (if this was a write, it may or may not have been applied)`, err);
  }

  /** Sends one command, mapping every failure. */
  async function send<T>(args: string[], redisKey?: string): Promise<T> {
    if (closed) throw mapError(new Error("closed"));
    const c = client;
    const reply = c.sendCommand<T>(args);
    // The race below may abandon `reply`; it must not become an unhandled rejection.
    reply.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CommandTimeout()), commandTimeoutMs);
    });
    try {
      return await Promise.race([reply, timeout]);
    } catch (err) {
      if (err instanceof CommandTimeout) replaceClient(c);
      throw mapError(err, redisKey);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a script by SHA, loading it with EVAL when the server does not know it yet. */
  async function evalScript<T>(
    script: LuaScript,
    keys: string[],
    args: (string | number)[],
  ): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await send<T>(["EVALSHA", script.sha, ...tail]);
    } catch (err) {
      // A restarted or flushed server forgets loaded scripts.
      if (!(err instanceof CoordinatorError && /\bNOSCRIPT\b/.test(err.message))) throw err;
      return await send<T>(["EVAL", script.source, ...tail]);
    }
  }

  /** Builds an Entry from raw hash fields, or throws CORRUPT_STATE naming the key. */
  function toEntry(
    redisKey: string,
    fields: {
      value: string | null;
      version: string | number | null;
      updatedAt: string | null;
      updatedBy: string | null;
      expiresAt: string | null;
      heldBy: string | null;
    },
  ): Entry {
    const { value, updatedAt } = fields;
    if (value === null) throw corruptKey(redisKey, "has no value field.");
    let parsed: JsonValue;
    try {
      parsed = JSON.parse(value);
    } catch (err) {
      throw corruptKey(redisKey, `its value is not valid JSON (${(err as Error).message}).`);
    }
    const version = Number(fields.version);
    if (!Number.isSafeInteger(version) || version < 1) {
      throw corruptKey(redisKey, "its version is not a positive integer.");
    }
    if (updatedAt === null) throw corruptKey(redisKey, "has no updated_at field.");
    const exp = fields.expiresAt === null ? null : Number(fields.expiresAt);
    if (exp !== null && !Number.isFinite(exp)) {
      throw corruptKey(redisKey, "its expires_at is not a number.");
    }
    return {
      value: parsed,
      version,
      updatedAt,
      updatedBy: fields.updatedBy,
      expiresAt: exp === null ? null : new Date(exp).toISOString(),
      heldBy: fields.heldBy,
    };
  }

  /**
   * Store, delete and writeBatch: one WRITE script that checks the guard and
   * every op's ifVersion (a check op does nothing more), then applies every op.
   */
  async function write(
    scope: string,
    ops: CheckedOp[],
    updatedBy: string | null,
    guard: Guard | undefined,
  ): Promise<BatchResult[]> {
    const nowMs = now();
    const updatedAt = new Date(nowMs).toISOString();
    const keys = [indexKey(scope), lexKey(scope), metaKey(scope), scopesKey];
    if (guard !== undefined) keys.push(valueKey(guard.scope, guard.key));
    const args: (string | number)[] = [
      nowMs,
      versionSeed(nowMs),
      scope,
      updatedAt,
      updatedBy ?? "",
      updatedBy === null ? "0" : "1",
      channel,
      guard?.field ?? "",
      guard?.equals ?? "",
    ];
    const expiries = ops.map((op) => {
      keys.push(valueKey(scope, op.key));
      if (op.op !== "set") {
        args.push(op.op, op.key, op.ifVersion ?? "", "", "", "");
        return null;
      }
      const expiresMs = expiryFromTtl(op.ttlSeconds, nowMs);
      args.push("set", op.key, op.ifVersion ?? "", op.text, expiresMs ?? "", op.heldBy ?? "");
      return expiresMs;
    });
    // Versions come back as text (see scripts.ts), tags and flags as integers.
    const reply = (await evalScript<(number | string)[]>(WRITE, keys, args)).map(Number);
    if (reply[0] === GUARD_FAILED) {
      throw guardFailed(guard!, scope, ops.length === 1 ? ops[0].key : null);
    }
    if (reply[0] === CONFLICT) {
      const op = ops[reply[1] - 1];
      throw versionConflict(scope, op.key, op.ifVersion ?? 0, reply[2]);
    }
    return ops.map((op, i): BatchResult => {
      if (op.op === "check") return { op: "check" };
      if (op.op === "delete") return { op: "delete", deleted: reply[i + 1] === 1 };
      const expiresMs = expiries[i];
      return {
        op: "set",
        version: reply[i + 1],
        updatedAt,
        expiresAt: expiresMs === null ? null : new Date(expiresMs).toISOString(),
      };
    });
  }

  /**
   * Runs the LIST script: the live keys of a scope that start with the
   * options' prefix, in JavaScript's order, at most `limit` (the script
   * sorts and limits; see LIST in scripts.ts).
   */
  function list<T>(scope: string, full: boolean, options: ListOptions | undefined): Promise<T[]> {
    const { prefix: keyPrefix, limit } = checkListOptions(options);
    return evalScript<T[]>(LIST, [indexKey(scope), lexKey(scope), scopesKey], [
      now(),
      valuePrefix(scope),
      scope,
      full ? "1" : "0",
      lexHex(keyPrefix),
      limit === Infinity ? "" : limit,
    ]);
  }

  /**
   * Asks the server whether this user may run everything the adapter runs:
   * EVAL and EVALSHA for real (pipelined, the same probe script), every
   * command inside the scripts and on the change channel through the ACL.
   */
  async function probe(c: RedisConnection): Promise<void> {
    const keys = [valueKey("", ""), indexKey(""), lexKey(""), metaKey(""), scopesKey];
    const tail = [String(keys.length), ...keys, channel];
    // EVAL first, even when the server knows the script: a user without +eval
    // would otherwise pass until the next restart flushes the script cache.
    const evaluated = c.sendCommand<string[]>(["EVAL", PROBE.source, ...tail]);
    const bySha = c.sendCommand<string[]>(["EVALSHA", PROBE.sha, ...tail]);
    bySha.catch(() => {}); // when EVAL fails, its error is the one to report
    const missing = await evaluated;
    await bySha;
    if (missing.length > 0) throw new MissingPermissions(missing.map(String));
  }

  /** CONFIG_INVALID for a user that lacks a permission; `what` names it. */
  function permissionError(what: string): CoordinatorError {
    return new CoordinatorError(
      "CONFIG_INVALID",
      `storage.config.url: the user of ${shownUrl} lacks permissions at redis at ${where}: ` +
        `${what}. Its ACL must allow ${aclRules(prefix)}.`,
      { field: "storage.config.url", host: target.host, port: target.port },
    );
  }

  let ready = true;
  await waitUntilReady(client, connectTimeoutMs, () => probe(client)).catch((err) => {
    const noPermission = err instanceof MissingPermissions ||
      (err instanceof ErrorReply && /^NOPERM\b/.test(err.message));
    const badCredentials = err instanceof ErrorReply && AUTH_FAILURE.test(err.message);
    if (noPermission || badCredentials) {
      closed = true;
      client.destroy();
    }
    if (err instanceof MissingPermissions) throw permissionError(describeMissing(err, prefix));
    if (noPermission) {
      // An ACL user without rights to our keys or commands: config, not outage.
      const permission = permissionOf(err.message, prefix);
      throw permissionError(
        `${scrub(err.message)}${permission === null ? "" : ` (it needs ${permission})`}`,
      );
    }
    if (badCredentials) {
      // Bad credentials do not heal by retrying: it is the config that is wrong.
      throw new CoordinatorError(
        "CONFIG_INVALID",
        `storage.config.url: redis at ${where} refused the credentials of ${shownUrl} (${
          scrub(err.message)
        }). Fix the user name or password.`,
        { field: "storage.config.url", host: target.host, port: target.port },
      );
    }
    const reason = err instanceof ErrorReply
      ? `it answered ${scrub(err.message)}`
      : lastError === "not connected yet"
      ? `no connection within ${connectTimeoutMs} ms`
      : lastError;
    // An outage heals: start anyway, answer STORAGE_UNAVAILABLE until the
    // server is back, and let the client keep reconnecting in the background.
    ready = false;
    lastError = reason;
    log(
      `redis at ${where} is unreachable: ${reason}. Serving anyway; calls answer ` +
        `STORAGE_UNAVAILABLE until it is back (storage.config.url is ${shownUrl}).`,
    );
  });
  wasReady = ready;
  // Before the first call, so no expiry is judged by an unmeasured clock.
  if (ready) await measureClockOffset(client);

  const feed = createChangeFeed({
    open: () => openConnection(target, { connectTimeoutMs, commandTimeoutMs, reconnect: false }),
    channel,
    timeoutMs: connectTimeoutMs + commandTimeoutMs,
    log: (line) => log(`redis at ${where}: ${line}`),
    describe: (err) => scrub(reasonOf(err)),
  });

  return {
    name: "redis",
    now,

    ...batchWrites(limits, write),

    async retrieve(scope, key): Promise<Entry | null> {
      const s = validateScope(scope);
      validateKey(key);
      const redisKey = valueKey(s, key);
      // One HMGET is atomic on its own; no script needed for a single-key read.
      const [value, version, updatedAt, updatedBy, expiresAt, heldBy] = await send<
        (string | null)[]
      >(
        [
          "HMGET",
          redisKey,
          "value",
          "version",
          "updated_at",
          "updated_by",
          "expires_at",
          "held_by",
        ],
        redisKey,
      );
      if (value === null && version === null && updatedAt === null) return null;
      const entry = toEntry(redisKey, {
        value,
        version,
        updatedAt,
        updatedBy,
        expiresAt,
        heldBy,
      });
      // Redis drops the key at expires_at by its own clock; this check makes
      // the adapter's clock decide too, exactly as the file adapter does.
      if (entry.expiresAt !== null && Number(expiresAt) <= now()) return null;
      return entry;
    },

    async listKeys(scope, options?: ListOptions): Promise<string[]> {
      const s = validateScope(scope);
      return (await list<string>(s, false, options)).map(String);
    },

    async listEntries(scope, options?: ListOptions): Promise<ExportedKey[]> {
      const s = validateScope(scope);
      const flat = await list<string | number | null>(s, true, options);
      const out: ExportedKey[] = [];
      for (let i = 0; i < flat.length; i += 7) {
        const key = String(flat[i]);
        const [value, version, updatedAt, updatedBy, expiresAt, heldBy] = flat.slice(
          i + 1,
          i + 7,
        ) as (string | null)[];
        out.push({
          key,
          entry: toEntry(valueKey(s, key), {
            value,
            version,
            updatedAt,
            updatedBy,
            expiresAt,
            heldBy,
          }),
        });
      }
      return out;
    },

    async listScopes(pattern?: string): Promise<string[]> {
      const regex = pattern === undefined ? null : globToRegExp(pattern);
      // SSCAN walks the scope set in pages, so one call never blocks the
      // server for long and KEYS is never needed. It may repeat a member.
      const candidates = new Set<string>();
      let cursor = "0";
      do {
        const [next, members] = await send<[string, string[]]>(
          ["SSCAN", scopesKey, cursor, "COUNT", String(SCAN_COUNT)],
          scopesKey,
        );
        cursor = String(next);
        for (const m of members) if (regex === null || regex.test(m)) candidates.add(m);
      } while (cursor !== "0");
      const names = [...candidates];
      const live: string[] = [];
      const nowMs = now();
      for (let i = 0; i < names.length; i += LIVE_BATCH) {
        const batch = names.slice(i, i + LIVE_BATCH);
        live.push(
          ...await evalScript<string[]>(LIVE_SCOPES, [scopesKey], [nowMs, prefix, ...batch]),
        );
      }
      return live.map(String).sort(compareStrings);
    },

    async restore(scope, key, entry: Entry): Promise<boolean> {
      const s = validateScope(scope);
      validateKey(key);
      const { text, expiresMs, heldBy } = checkRestoredEntry(entry, limits);
      const nowMs = now();
      const written = await evalScript<number>(
        RESTORE,
        [valueKey(s, key), indexKey(s), lexKey(s), metaKey(s), scopesKey],
        [
          key,
          s,
          text,
          entry.version,
          entry.updatedAt,
          entry.updatedBy ?? "",
          entry.updatedBy === null ? "0" : "1",
          expiresMs ?? "",
          nowMs,
          versionSeed(nowMs),
          heldBy ?? "",
          channel,
        ],
      );
      return written === 1;
    },

    async deleteScope(scope, options: DeleteScopeOptions = {}): Promise<boolean> {
      const s = validateScope(scope);
      const guard = checkGuard(options.guard);
      const keys = [indexKey(s), lexKey(s), scopesKey];
      if (guard !== undefined) keys.push(valueKey(guard.scope, guard.key));
      const [tag, live] = await evalScript<[number, number]>(
        DELETE_SCOPE,
        keys,
        [now(), valuePrefix(s), s, channel, guard?.field ?? "", guard?.equals ?? ""],
      );
      if (tag === GUARD_FAILED) throw guardFailed(guard!, s, null);
      return live === 1;
    },

    watch(listener) {
      return feed.watch(listener);
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      feed.close();
      // close() lets pending replies arrive; bound it, then drop the socket.
      if (client.isReady) {
        await withTimeout(client.close(), commandTimeoutMs).catch(() => {});
      }
      if (client.isOpen) client.destroy();
    },
  };
}

/** Builds the redis adapter from `storage.config` (url, prefix, connect_timeout_ms, command_timeout_ms). */
export const redisAdapterFactory: AdapterFactory = async (config, context) => {
  const c = parseRedisConfig(config);
  return await createRedisAdapter({
    url: c.url,
    prefix: c.prefix,
    limits: context.limits,
    connectTimeoutMs: c.connectTimeoutMs,
    commandTimeoutMs: c.commandTimeoutMs,
    log: context.log,
  });
};

/** Decodes the hex a script used to name a key in a CSC_CORRUPT error. */
function fromHex(hex: string): string {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
}
