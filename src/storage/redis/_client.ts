/**
 * The node-redis client as the Redis adapter uses it: how one is made, how
 * start-up waits for it, and how its errors are classified.
 */
import {
  ClientClosedError,
  ClientOfflineError,
  createClient,
  ErrorReply,
  TimeoutError,
} from "redis";
import type { RedisTarget } from "./_url.ts";

/** Longest pause between reconnect attempts, so recovery is noticed within a second. */
export const MAX_RECONNECT_DELAY_MS = 1000;

/**
 * The part of the node-redis client this adapter uses. node-redis's client
 * type is generic over modules, scripts and RESP version, which makes every
 * signature unwieldy; this narrow view keeps the one cast in openConnection().
 */
export interface RedisConnection {
  connect(): Promise<unknown>;
  sendCommand<T>(args: ReadonlyArray<string>): Promise<T>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
  on(event: "error", listener: (err: Error) => void): unknown;
  on(event: "ready", listener: () => void): unknown;
  off(event: "error", listener: (err: Error) => void): unknown;
  readonly isReady: boolean;
  readonly isOpen: boolean;
}

/** Options of openConnection. */
export interface ConnectionOptions {
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /**
   * False: a lost or refused connection is final (the caller makes a new
   * one). True by default: reconnect for ever, backing off to a second.
   */
  reconnect?: boolean;
}

/** Creates a node-redis client; nothing is sent until connect(). */
export function openConnection(target: RedisTarget, options: ConnectionOptions): RedisConnection {
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
    commandOptions: { timeout: options.commandTimeoutMs },
    socket: {
      host: target.host,
      port: target.port,
      // The literal types pick node-redis's TCP or TLS socket options.
      ...(target.tls ? { tls: true as const } : { tls: false as const }),
      connectTimeout: options.connectTimeoutMs,
      // Never give up: back off to at most a second, with jitter so many
      // coordinators do not reconnect in lockstep after an outage.
      reconnectStrategy: options.reconnect === false
        ? false
        : (retries: number) =>
          Math.min(100 * 2 ** retries, MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100),
    },
  });
  // node-redis's generic client type is unwieldy (see RedisConnection); the
  // narrow view covers exactly the members used here.
  return client as unknown as RedisConnection;
}

/** Error replies that mean the credentials are wrong (the texts never include the password). */
export const AUTH_FAILURE =
  /^(WRONGPASS|NOAUTH|NOPERM)\b|^ERR (AUTH|invalid password|invalid username)/i;

/**
 * Resolves when the client is ready and `probe` succeeded; rejects after `ms`,
 * when the server refuses us, or at once when the connection is refused
 * (nothing listens there: waiting out the connect timeout would only delay
 * start-up; the client keeps reconnecting in the background all the same).
 */
export function waitUntilReady(
  client: RedisConnection,
  ms: number,
  probe: () => Promise<void>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error("connect timeout")), ms);
    // An auth failure during the handshake would be retried forever; it will
    // not heal, so report it.
    const onError = (err: Error) => {
      if ((err instanceof ErrorReply && AUTH_FAILURE.test(err.message)) || isRefused(err)) {
        fail(err);
      }
    };
    const done = () => {
      clearTimeout(timer);
      client.off("error", onError);
    };
    function fail(err: unknown) {
      done();
      reject(err);
    }
    client.on("error", onError);
    client.connect()
      // A server with requirepass accepts a client that sent no password and
      // only refuses its first command: probe now, so that shows at startup.
      .then(probe)
      .then(() => {
        done();
        resolve();
      }, fail);
  });
}

/** Rejects with Error("timeout") unless `promise` settles within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timeout")), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A short human reason for a low-level error, such as "connect ECONNREFUSED 127.0.0.1:6379". */
export function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const text = err.message || err.name;
  return typeof code === "string" && !text.includes(code) ? `${code}: ${text}` : text;
}

/** Our own per-command timeout: node-redis's covers only commands not yet written. */
export class CommandTimeout extends Error {}

/** True when a command ran out of time (node-redis's timeout or ours). */
export function isTimeout(err: unknown): boolean {
  return err instanceof TimeoutError || err instanceof CommandTimeout;
}

/** True when node-redis refused to send the command at all. */
export function isOffline(err: unknown): boolean {
  return err instanceof ClientOfflineError || err instanceof ClientClosedError;
}

/** True when nothing listens at the address: the connection was refused outright. */
export function isRefused(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === "ECONNREFUSED";
}

/** A copy of an error for `cause`, with the password scrubbed from its message. */
export function scrubbedError(err: unknown, scrub: (s: string) => string): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const copy = new Error(scrub(e.message));
  copy.name = e.name;
  return copy;
}
