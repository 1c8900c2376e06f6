/**
 * The Redis adapter's change feed: one subscriber connection on the change
 * channel (every write script publishes the changed scope there, see
 * scripts.ts), open only while someone watches.
 *
 * Missing nothing is the point: a subscriber hears only what is published
 * while it is subscribed, so every time a subscription takes effect (the
 * first time, and after any drop) the listeners get `{ all: true }`: "reread
 * what you care about". A lost connection is replaced by a fresh one, with
 * back-off, for as long as anyone watches.
 */
import { ErrorReply } from "redis";
import type { Change } from "../contract.ts";
import type { RedisConnection } from "./_client.ts";
import { MAX_RECONNECT_DELAY_MS, withTimeout } from "./_client.ts";

/** What the feed needs from the adapter. */
export interface FeedOptions {
  /** A new subscriber connection that does not reconnect by itself (not yet connected). */
  open: () => RedisConnection;
  /** The channel the write scripts publish on. */
  channel: string;
  /** How long connecting and subscribing may take before the attempt is abandoned. */
  timeoutMs: number;
  /** Receives a line when the feed cannot subscribe, and when it can again. */
  log: (line: string) => void;
  /** A one-line reason for an error, free of secrets. */
  describe: (err: unknown) => string;
}

/** A change feed shared by every watcher of one adapter. */
export interface ChangeFeed {
  /** Registers a listener; the returned function removes it. */
  watch(listener: (change: Change) => void): () => void;
  /** Ends the subscription and forgets every listener. */
  close(): void;
}

/** One subscriber's lifetime: from the first watcher to the last. */
interface Session {
  stop(): void;
}

/** Creates the feed; it connects on the first watch(). */
export function createChangeFeed(options: FeedOptions): ChangeFeed {
  // Wrapped, so one function registered twice is two registrations.
  const listeners = new Set<{ fn: (change: Change) => void }>();
  let session: Session | null = null;
  let closed = false;
  // Scopes heard since the last delivery: one delivery per burst of messages.
  let pending = new Set<string>();

  function deliver(change: Change): void {
    for (const listener of [...listeners]) {
      if (!listeners.has(listener)) continue; // removed by an earlier listener
      try {
        listener.fn(change);
      } catch (err) {
        // A listener's failure is its own; the feed and other listeners go on.
        options.log(`change feed: a listener failed (${options.describe(err)}).`);
      }
    }
  }

  function onMessage(scope: string): void {
    if (scope === "") return; // the start-up probe's message, no scope
    if (pending.size === 0) {
      // Messages read from one chunk of the socket are handled in one go;
      // a microtask later they all go out together.
      queueMicrotask(() => {
        const scopes = [...pending];
        pending = new Set();
        deliver({ scopes });
      });
    }
    pending.add(scope);
  }

  function start(): Session {
    let stopped = false;
    let current: RedisConnection | null = null;
    let wake: () => void = () => {};
    /** Resolves after `ms`, or at once when the session stops. */
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });

    async function run(): Promise<void> {
      let failures = 0;
      let complained = "";
      while (!stopped) {
        const conn = options.open();
        current = conn;
        let lost: (err: unknown) => void = () => {};
        const broken = new Promise<unknown>((resolve) => (lost = resolve));
        // Without an 'error' listener node-redis would crash the process.
        conn.on("error", (err) => lost(err));
        wake = () => lost(null);
        try {
          await withTimeout(
            conn.connect().then(() => conn.subscribe(options.channel, onMessage)),
            options.timeoutMs,
          );
        } catch (err) {
          conn.destroy();
          if (stopped) return;
          const reason = options.describe(err);
          // A refusal (NOPERM, say) is worth a line; a server that is down
          // is reported by the adapter's own connection already.
          if (err instanceof ErrorReply && reason !== complained) {
            complained = reason;
            options.log(`change feed: cannot subscribe (${reason}); retrying.`);
          }
          await pause(Math.min(100 * 2 ** failures++, MAX_RECONNECT_DELAY_MS));
          continue;
        }
        if (complained !== "") {
          complained = "";
          options.log("change feed: subscribed again.");
        }
        failures = 0;
        // Anything published before this moment was not heard.
        if (!stopped) deliver({ all: true });
        await broken;
        conn.destroy();
        if (!stopped) await pause(Math.floor(Math.random() * 100));
      }
    }

    void run();
    return {
      stop() {
        stopped = true;
        current?.destroy();
        wake();
      },
    };
  }

  return {
    watch(fn) {
      if (closed) return () => {};
      const listener = { fn };
      listeners.add(listener);
      session ??= start();
      return () => {
        if (!listeners.delete(listener) || listeners.size > 0) return;
        session?.stop();
        session = null;
      };
    },
    close() {
      closed = true;
      listeners.clear();
      session?.stop();
      session = null;
    },
  };
}
