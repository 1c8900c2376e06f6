/**
 * The Redis adapter ("redis"): scopes shared by every machine that reaches one
 * Redis server. Each key is its own Redis hash with a real Redis expiry; every
 * write and listing is one Lua script, so compare-and-set is atomic on the
 * server. The key layout is documented in redis_scripts.ts.
 *
 * Failure policy: nothing waits on a dead server. The offline queue is off, so
 * while the connection is down every call rejects at once with
 * STORAGE_UNAVAILABLE; a connect timeout and a per-command timeout bound the
 * rest. The client reconnects by itself in the background.
 *
 * Secrets: the URL's password is only ever handed to the client as a field;
 * every URL shown to a person goes through redactUrl, and every error text
 * from below is scrubbed of the password before it is shown.
 */
import {
  ClientClosedError,
  ClientOfflineError,
  createClient,
  DisconnectsClientError,
  ErrorReply,
  TimeoutError,
} from "redis";
import { z } from "zod";
import { redactUrl } from "../../core/redact.ts";
import { CoordinatorError } from "../../core/errors.ts";
import type { JsonValue } from "../../core/json.ts";
import { globToRegExp, validateKey, validateScope } from "../../core/scope.ts";
import type {
  AdapterLimits,
  DeleteOptions,
  Entry,
  ExportedKey,
  StorageAdapter,
  StoreOptions,
  StoreResult,
} from "../contract.ts";
import type { AdapterFactory } from "../registry.ts";
import {
  DELETE,
  DELETE_SCOPE,
  LIST,
  LIVE_SCOPES,
  type LuaScript,
  RESTORE,
  STORE,
} from "./scripts.ts";
import {
  checkIfVersion,
  checkRestoredEntry,
  encodeValue,
  expiryFromTtl,
  versionConflict,
} from "../values.ts";

/** Options of createRedisAdapter. */
export interface RedisAdapterOptions {
  /** `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS. */
  url: string;
  /** Prepended to every Redis key, so several deployments can share a server. */
  prefix: string;
  limits: AdapterLimits;
  /** How long one connection attempt may take; 2000 ms by default. */
  connectTimeoutMs?: number;
  /** How long one command may take before it fails; 3000 ms by default. */
  commandTimeoutMs?: number;
  /**
   * A fixed clock in epoch milliseconds, for updated_at and expiry, used as
   * given (tests). Without it the adapter uses this machine's clock corrected
   * by its measured offset from the Redis server's clock (see localClock).
   */
  now?: () => number;
  /** This machine's clock; Date.now by default. Its offset from Redis's TIME is measured on connect. */
  localClock?: () => number;
  /** Receives one line when the connection is lost or restored (already redacted). */
  log?: (line: string) => void;
}

/** Default prefix of every Redis key. */
export const DEFAULT_PREFIX = "csc:";
/** Default connect timeout: short, so an unreachable server is reported in seconds. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
/** Default command timeout: far above a healthy round trip, well under a person's patience. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 3000;
/** Longest pause between reconnect attempts, so recovery is noticed within a second. */
const MAX_RECONNECT_DELAY_MS = 1000;
/** Scope names list_scopes checks per script call, bounding one script's run time. */
const LIVE_BATCH = 200;
/** SSCAN page size. */
const SCAN_COUNT = 500;

/** Where a URL points, with the credentials node-redis needs. */
interface RedisTarget {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
  database?: number;
}

/**
 * The part of the node-redis client this adapter uses. node-redis's client
 * type is generic over modules, scripts and RESP version, which makes every
 * signature unwieldy; this narrow view keeps the one cast in connect().
 */
interface RedisConnection {
  connect(): Promise<unknown>;
  sendCommand<T>(args: ReadonlyArray<string>): Promise<T>;
  close(): Promise<void>;
  destroy(): void;
  on(event: "error", listener: (err: Error) => void): unknown;
  on(event: "ready", listener: () => void): unknown;
  readonly isReady: boolean;
  readonly isOpen: boolean;
}

function configError(message: string, details: Record<string, unknown> = {}): CoordinatorError {
  return new CoordinatorError("CONFIG_INVALID", `storage.config.url: ${message}`, {
    field: "storage.config.url",
    ...details,
  });
}

/** Parses and checks a redis:// or rediss:// URL; CONFIG_INVALID names what is wrong, never the password. */
function parseRedisUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw configError(`${JSON.stringify(redactUrl(url))} is not a valid URL.`);
  }
  const shown = JSON.stringify(redactUrl(url));
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw configError(`${shown} must start with redis:// or rediss://.`);
  }
  // WHATWG keeps IPv6 brackets in hostname; sockets want the bare address.
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw configError(`${shown} names no host.`);
  const port = u.port === "" ? 6379 : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw configError(`${shown} has an invalid port.`);
  }
  let database: number | undefined;
  if (u.pathname.length > 1) {
    database = Number(u.pathname.slice(1));
    if (!Number.isInteger(database) || database < 0) {
      throw configError(`${shown}: the path must be a database number such as /0.`);
    }
  }
  if (u.search || u.hash) throw configError(`${shown} must not have a query or fragment.`);
  let username: string | undefined;
  let password: string | undefined;
  try {
    username = u.username ? decodeURIComponent(u.username) : undefined;
    password = u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    throw configError(`${shown} has badly percent-encoded credentials.`);
  }
  return { host, port, tls: u.protocol === "rediss:", username, password, database };
}

/** Creates the Redis adapter and connects; STORAGE_UNAVAILABLE when the server cannot be reached. */
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
  const where = `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
  const secrets = [target.password, target.password && encodeURIComponent(target.password)]
    .filter((s): s is string => typeof s === "string" && s.length > 0);

  /** Removes the password from any text that came from below. */
  const scrub = (text: string): string =>
    secrets.reduce((acc, secret) => acc.split(secret).join("***"), text);

  // Connection state lives in this closure. `client` is replaced when a
  // command times out (see send), so it is a `let`.
  let lastError = "not connected yet";
  let wasReady = false;
  let closed = false;
  let client = openClient();

  /** Creates a client with the listeners every client needs; does not connect. */
  function openClient(): RedisConnection {
    const c = connect(target, connectTimeoutMs, commandTimeoutMs);
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
      offsetMs = Math.round(serverMs - (before + after) / 2);
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
        `reachable from this machine (storage.config.url is ${
          redactUrl(options.url)
        }); the adapter reconnects by itself.`,
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
      // LOADING, BUSY, OOM, READONLY, NOAUTH, WRONGPASS...: the server is
      // there but cannot serve us; the caller can only wait or fix the server.
      return new CoordinatorError(
        "STORAGE_UNAVAILABLE",
        `redis at ${where} refused the command: ${scrub(message)}. Check the server's state ` +
          `and the credentials in storage.config.url (${redactUrl(options.url)}).`,
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

  const scopesKey = prefix + "scopes";
  const valueKey = (scope: string, key: string) => `${prefix}k:${scope}\u0000${key}`;
  const valuePrefix = (scope: string) => `${prefix}k:${scope}\u0000`;
  const indexKey = (scope: string) => `${prefix}i:${scope}`;
  const metaKey = (scope: string) => `${prefix}m:${scope}`;

  /** Builds an Entry from raw hash fields, or throws CORRUPT_STATE naming the key. */
  function toEntry(
    redisKey: string,
    value: string | null,
    version: string | number | null,
    updatedAt: string | null,
    updatedBy: string | null,
    expiresAt: string | null,
  ): Entry {
    if (value === null) throw corruptKey(redisKey, "has no value field.");
    let parsed: JsonValue;
    try {
      parsed = JSON.parse(value);
    } catch (err) {
      throw corruptKey(redisKey, `its value is not valid JSON (${(err as Error).message}).`);
    }
    const v = Number(version);
    if (!Number.isSafeInteger(v) || v < 1) {
      throw corruptKey(redisKey, "its version is not a positive integer.");
    }
    if (updatedAt === null) throw corruptKey(redisKey, "has no updated_at field.");
    const exp = expiresAt === null ? null : Number(expiresAt);
    if (exp !== null && !Number.isFinite(exp)) {
      throw corruptKey(redisKey, "its expires_at is not a number.");
    }
    return {
      value: parsed,
      version: v,
      updatedAt,
      updatedBy,
      expiresAt: exp === null ? null : new Date(exp).toISOString(),
    };
  }

  async function entries(scope: string): Promise<ExportedKey[]> {
    const flat = await evalScript<(string | number | null)[]>(
      LIST,
      [indexKey(scope), scopesKey],
      [now(), valuePrefix(scope), scope, "1"],
    );
    const out: ExportedKey[] = [];
    for (let i = 0; i < flat.length; i += 6) {
      const key = String(flat[i]);
      const [value, version, at, by, exp] = flat.slice(i + 1, i + 6) as (string | null)[];
      out.push({ key, entry: toEntry(valueKey(scope, key), value, version, at, by, exp) });
    }
    return out.sort((a, b) => compareStrings(a.key, b.key));
  }

  // The probe is a read of our own key, so it needs no permission beyond
  // what the adapter needs anyway (PING would need @connection in an ACL).
  let ready = true;
  await waitUntilReady(client, connectTimeoutMs, ["EXISTS", scopesKey]).catch((err) => {
    const fatal = err instanceof ErrorReply &&
      (/^NOPERM\b/.test(err.message) || AUTH_FAILURE.test(err.message));
    if (fatal) {
      closed = true;
      client.destroy();
    }
    if (err instanceof ErrorReply && /^NOPERM\b/.test(err.message)) {
      // An ACL user without rights to our keys or commands: config, not outage.
      throw new CoordinatorError(
        "CONFIG_INVALID",
        `storage.config.url: the user of ${redactUrl(options.url)} lacks permissions at redis ` +
          `at ${where} (${scrub(err.message)}). Its ACL must allow the keys ~${prefix}* and ` +
          `the commands +@read +@write +eval +evalsha (and +time, to follow the server's clock).`,
        { field: "storage.config.url", host: target.host, port: target.port },
      );
    }
    if (err instanceof ErrorReply && AUTH_FAILURE.test(err.message)) {
      // Bad credentials do not heal by retrying: it is the config that is wrong.
      throw new CoordinatorError(
        "CONFIG_INVALID",
        `storage.config.url: redis at ${where} refused the credentials of ${
          redactUrl(options.url)
        } (${scrub(err.message)}). Fix the user name or password.`,
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
        `STORAGE_UNAVAILABLE until it is back (storage.config.url is ${redactUrl(options.url)}).`,
    );
  });
  wasReady = ready;
  // Before the first call, so no expiry is judged by an unmeasured clock.
  if (ready) await measureClockOffset(client);

  return {
    name: "redis",

    async store(scope, key, value: JsonValue, options: StoreOptions = {}): Promise<StoreResult> {
      const s = validateScope(scope);
      validateKey(key);
      checkIfVersion(options.ifVersion);
      const nowMs = now();
      const expiresMs = expiryFromTtl(options.ttlSeconds, nowMs);
      const updatedBy = options.updatedBy ?? null;
      if (updatedBy !== null && typeof updatedBy !== "string") {
        throw new CoordinatorError("INVALID_ARGUMENT", "updated_by must be a string or null.");
      }
      const text = encodeValue(value, limits);
      const updatedAt = new Date(nowMs).toISOString();
      const [ok, version] = await evalScript<[number, number]>(
        STORE,
        [valueKey(s, key), indexKey(s), metaKey(s), scopesKey],
        [
          key,
          s,
          text,
          options.ifVersion ?? "",
          nowMs,
          expiresMs ?? "",
          updatedAt,
          updatedBy ?? "",
          updatedBy === null ? "0" : "1",
        ],
      );
      if (ok !== 1) throw versionConflict(s, key, options.ifVersion ?? 0, version);
      return {
        version,
        updatedAt,
        expiresAt: expiresMs === null ? null : new Date(expiresMs).toISOString(),
      };
    },

    async retrieve(scope, key): Promise<Entry | null> {
      const s = validateScope(scope);
      validateKey(key);
      const redisKey = valueKey(s, key);
      // One HMGET is atomic on its own; no script needed for a single-key read.
      const [value, version, at, by, exp] = await send<(string | null)[]>(
        ["HMGET", redisKey, "value", "version", "updated_at", "updated_by", "expires_at"],
        redisKey,
      );
      if (value === null && version === null && at === null) return null;
      const entry = toEntry(redisKey, value, version, at, by, exp);
      // Redis drops the key at expires_at by its own clock; this check makes
      // the adapter's clock decide too, exactly as the file adapter does.
      if (entry.expiresAt !== null && Number(exp) <= now()) return null;
      return entry;
    },

    async delete(scope, key, options: DeleteOptions = {}): Promise<boolean> {
      const s = validateScope(scope);
      validateKey(key);
      checkIfVersion(options.ifVersion);
      const [ok, result] = await evalScript<[number, number]>(
        DELETE,
        [valueKey(s, key), indexKey(s), scopesKey],
        [key, options.ifVersion ?? "", now(), s],
      );
      if (ok !== 1) throw versionConflict(s, key, options.ifVersion ?? 0, result);
      return result === 1;
    },

    async listKeys(scope): Promise<string[]> {
      const s = validateScope(scope);
      const keys = await evalScript<string[]>(
        LIST,
        [indexKey(s), scopesKey],
        [now(), valuePrefix(s), s, "0"],
      );
      return keys.map(String).sort(compareStrings);
    },

    async listEntries(scope): Promise<ExportedKey[]> {
      return await entries(validateScope(scope));
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
      const { text, expiresMs } = checkRestoredEntry(entry, limits);
      const written = await evalScript<number>(
        RESTORE,
        [valueKey(s, key), indexKey(s), metaKey(s), scopesKey],
        [
          key,
          s,
          text,
          entry.version,
          entry.updatedAt,
          entry.updatedBy ?? "",
          entry.updatedBy === null ? "0" : "1",
          expiresMs ?? "",
          now(),
        ],
      );
      return written === 1;
    },

    async deleteScope(scope): Promise<boolean> {
      const s = validateScope(scope);
      const live = await evalScript<number>(
        DELETE_SCOPE,
        [indexKey(s), metaKey(s), scopesKey],
        [now(), valuePrefix(s), s],
      );
      return live === 1;
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      // close() lets pending replies arrive; bound it, then drop the socket.
      if (client.isReady) {
        await withTimeout(client.close(), commandTimeoutMs).catch(() => {});
      }
      if (client.isOpen) client.destroy();
    },
  };
}

/** Builds the redis adapter from `storage.config` (url, prefix, connect_timeout_ms, command_timeout_ms). */
export const redisAdapterFactory: AdapterFactory = (config, context) => {
  const parsed = RedisConfigSchema.safeParse(config ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const unknown = issue.code === "unrecognized_keys" ? issue.keys : [];
    const path = unknown.length > 0 ? unknown[0] : issue.path.map(String).join(".");
    const field = path === "" ? "storage.config" : `storage.config.${path}`;
    const what = unknown.length > 0
      ? "unknown field (the redis adapter accepts url, prefix, connect_timeout_ms and " +
        "command_timeout_ms)."
      : path === ""
      ? "must be an object."
      : issue.message;
    // Only paths and our own messages go out: zod never sees the URL text in
    // a message, so the password cannot leak through here.
    return Promise.reject(
      new CoordinatorError("CONFIG_INVALID", `${field}: ${what}`, {
        field,
        issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
      }),
    );
  }
  const c = parsed.data;
  return createRedisAdapter({
    url: c.url,
    prefix: c.prefix,
    limits: context.limits,
    connectTimeoutMs: c.connect_timeout_ms,
    commandTimeoutMs: c.command_timeout_ms,
    log: context.log,
  });
};

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

/** Creates the node-redis client; nothing is sent until connect(). */
function connect(
  target: RedisTarget,
  connectTimeoutMs: number,
  commandTimeoutMs: number,
): RedisConnection {
  const client = createClient({
    // The URL itself is never passed: node-redis echoes it in some errors.
    username: target.username,
    password: target.password,
    database: target.database,
    // No client name: CLIENT SETNAME would need one more ACL permission.
    // RESP2 keeps replies plain (arrays, strings, null) for the scripts.
    RESP: 2,
    // Fail fast while disconnected instead of queueing calls that would hang.
    disableOfflineQueue: true,
    commandOptions: { timeout: commandTimeoutMs },
    socket: {
      host: target.host,
      port: target.port,
      // The literal types pick node-redis's TCP or TLS socket options.
      ...(target.tls ? { tls: true as const } : { tls: false as const }),
      connectTimeout: connectTimeoutMs,
      // Never give up: back off to at most a second, with jitter so many
      // coordinators do not reconnect in lockstep after an outage.
      reconnectStrategy: (retries: number) =>
        Math.min(100 * 2 ** retries, MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100),
    },
  });
  // node-redis's generic client type is unwieldy (see RedisConnection); the
  // narrow view covers exactly the members used here.
  return client as unknown as RedisConnection;
}

/** Error replies that mean the credentials are wrong (the texts never include the password). */
const AUTH_FAILURE = /^(WRONGPASS|NOAUTH|NOPERM)\b|^ERR (AUTH|invalid password|invalid username)/i;

/** Resolves when the client is ready and `probe` succeeded; rejects after `ms` or when the server refuses us. */
function waitUntilReady(client: RedisConnection, ms: number, probe: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timeout")), ms);
    const fail = (err: unknown) => {
      clearTimeout(timer);
      reject(err);
    };
    client.connect()
      // A server with requirepass accepts a client that sent no password and
      // only refuses its first command: probe now, so that shows at startup.
      .then(() => client.sendCommand(probe))
      .then(() => {
        clearTimeout(timer);
        resolve();
      }, fail);
    // An auth failure during the handshake would be retried forever; it will
    // not heal, so report it.
    client.on("error", (err) => {
      if (err instanceof ErrorReply && AUTH_FAILURE.test(err.message)) fail(err);
    });
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timeout")), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A short human reason for a low-level error, such as "connect ECONNREFUSED 127.0.0.1:6379". */
function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const text = err.message || err.name;
  return typeof code === "string" && !text.includes(code) ? `${code}: ${text}` : text;
}

/** Our own per-command timeout: node-redis's covers only commands not yet written. */
class CommandTimeout extends Error {}

function isTimeout(err: unknown): boolean {
  return err instanceof TimeoutError || err instanceof CommandTimeout;
}

/** True when node-redis refused to send the command at all. */
function isOffline(err: unknown): boolean {
  return err instanceof ClientOfflineError || err instanceof ClientClosedError;
}

/** A copy of an error for `cause`, with the password scrubbed from its message. */
function scrubbedError(err: unknown, scrub: (s: string) => string): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const copy = new Error(scrub(e.message));
  copy.name = e.name;
  return copy;
}

function fromHex(hex: string): string {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
}

/** Plain code-unit order, the same as the file adapter's. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
