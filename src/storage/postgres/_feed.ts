/**
 * The change feed over LISTEN/NOTIFY. Every write transaction calls
 * pg_notify with the changed scope, so the notification leaves only if the
 * write commits; this module keeps one dedicated connection LISTENing while
 * anything watches, and none otherwise.
 *
 * Nothing here throws into a watcher: a dropped connection (a restart, a
 * network drop, a heartbeat without a reply) is replaced by itself, with
 * backoff, and every time the feed starts listening it reports
 * `{ all: true }`, because changes made while it was not listening were not
 * seen.
 *
 * @module
 */
import type { Change } from "../contract.ts";
import pg, { type Notification } from "./_pg.ts";

/** How often the listening connection proves it is alive, so a silent network drop is noticed. */
const HEARTBEAT_MS = 10_000;
/** Longest pause between reconnect attempts, so recovery is noticed within a second. */
const MAX_RECONNECT_DELAY_MS = 1000;

type PgClient = InstanceType<typeof pg.Client>;

/** Options of createChangeFeed. */
export interface ChangeFeedOptions {
  /** A fresh, unconnected client configured like the pool's. */
  client: () => PgClient;
  /** The quoted channel for LISTEN, and its plain name as notifications carry it. */
  channel: string;
  channelName: string;
  /** Bounds connecting, LISTEN and each heartbeat. */
  timeoutMs: number;
  /** "host:port", for log lines. */
  where: string;
  /** A short scrubbed reason for an error. */
  reason: (err: unknown) => string;
  log: (line: string) => void;
}

/** The feed of one adapter. */
export interface ChangeFeed {
  /** Adds a listener until the returned function is called. */
  watch(listener: (change: Change) => void): () => void;
  /** Stops listening for good. */
  close(): Promise<void>;
}

/** Creates a feed; it connects when the first listener arrives. */
export function createChangeFeed(options: ChangeFeedOptions): ChangeFeed {
  const listeners = new Set<(change: Change) => void>();
  let closed = false;
  /** The listening connection, once LISTEN succeeded. */
  let active: PgClient | null = null;
  /** Bumped whenever the current connection is abandoned; events of older ones are ignored. */
  let generation = 0;
  let connecting = false;
  let failures = 0;
  let lostLogged = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let heartbeatTimer: ReturnType<typeof setInterval> | undefined;

  const wanted = () => !closed && listeners.size > 0;

  function emit(change: Change): void {
    for (const listener of [...listeners]) {
      try {
        listener(change);
      } catch {
        // A watcher's own failure is its business; the others still hear.
      }
    }
  }

  async function connect(): Promise<void> {
    if (!wanted() || active !== null || connecting) return;
    connecting = true;
    const gen = ++generation;
    const c = options.client();
    c.on("error", (err) => dropped(gen, c, err));
    c.on("end", () => dropped(gen, c, new Error("the connection closed")));
    c.on("notification", (msg: Notification) => {
      if (gen !== generation || msg.channel !== options.channelName) return;
      if (msg.payload) emit({ scopes: [msg.payload] });
    });
    try {
      await withTimeout(c.connect(), options.timeoutMs);
      await withTimeout(c.query(`LISTEN ${options.channel}`), options.timeoutMs);
    } catch (err) {
      connecting = false;
      destroy(c);
      if (gen !== generation) return;
      failures++;
      if (!lostLogged) {
        lostLogged = true;
        options.log(
          `postgres at ${options.where}: the change feed cannot listen (${
            options.reason(err)
          }); retrying.`,
        );
      }
      scheduleReconnect();
      return;
    }
    connecting = false;
    if (gen !== generation || !wanted()) {
      destroy(c);
      return;
    }
    active = c;
    failures = 0;
    if (lostLogged) {
      lostLogged = false;
      options.log(`postgres at ${options.where}: the change feed listens again.`);
    }
    heartbeatTimer = setInterval(() => {
      withTimeout(c.query("SELECT 1"), options.timeoutMs).catch((err) => dropped(gen, c, err));
    }, HEARTBEAT_MS);
    // Whatever changed before LISTEN took effect went unseen.
    emit({ all: true });
  }

  /** The listening connection failed: abandon it and listen again on a new one. */
  function dropped(gen: number, c: PgClient, err: unknown): void {
    if (gen !== generation) return;
    generation++;
    if (active === c) {
      active = null;
      clearInterval(heartbeatTimer);
      if (!lostLogged && wanted()) {
        lostLogged = true;
        options.log(
          `postgres at ${options.where}: the change feed lost its connection (${
            options.reason(err)
          }); reconnecting.`,
        );
      }
    }
    connecting = false;
    destroy(c);
    scheduleReconnect();
  }

  function scheduleReconnect(): void {
    if (!wanted() || retryTimer !== undefined) return;
    // Jitter, so many servers do not reconnect in lockstep after an outage.
    const delay = Math.min(100 * 2 ** failures, MAX_RECONNECT_DELAY_MS) +
      Math.floor(Math.random() * 100);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delay);
  }

  /** Stops listening (no watcher left, or closing). */
  async function stop(): Promise<void> {
    generation++;
    clearTimeout(retryTimer);
    retryTimer = undefined;
    clearInterval(heartbeatTimer);
    const c = active;
    active = null;
    connecting = false;
    if (c !== null) {
      await withTimeout(c.end(), options.timeoutMs).catch(() => destroy(c));
    }
  }

  return {
    watch(listener) {
      const copy = (change: Change) => listener(change);
      listeners.add(copy);
      void connect();
      return () => {
        if (!listeners.delete(copy)) return;
        if (listeners.size === 0) void stop();
      };
    },
    async close() {
      closed = true;
      listeners.clear();
      await stop();
    },
  };
}

/** Ends a client without waiting for the server (it may be gone). */
function destroy(c: PgClient): void {
  c.end().catch(() => {});
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  promise.catch(() => {}); // the race may abandon it
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no reply within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
