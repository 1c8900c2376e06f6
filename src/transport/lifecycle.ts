/**
 * One session lifecycle for every transport: bind a session, keep its lease
 * alive with a heartbeat, and release its instance the moment the client
 * leaves (end of input, a closed connection, a signal). A transport creates
 * one per client; the storage belongs to whoever opened it, not to a session.
 *
 * @module
 */
import { describeError } from "../core/errors.ts";
import {
  createBinding,
  type Holder,
  release,
  type SessionBinding,
  type SessionContext,
  startHeartbeat,
  type WorkTreeInfo,
} from "../core/session/mod.ts";
import { createEventTracker, type EventTracker } from "../core/live/events.ts";

/** A live session: its binding, what changed for it, and the one way to end it. */
export interface SessionLifecycle {
  binding: SessionBinding;
  /** Its event tracker (for wait and channels), when the context has a change feed. */
  live?: EventTracker;
  /** Stops the heartbeat and releases the instance at once; idempotent. */
  close(why: string): Promise<void>;
}

/** Options of openSession. */
export interface OpenSessionOptions {
  holder: Holder;
  workTree: () => Promise<WorkTreeInfo>;
  log: (line: string) => void;
}

/** Opens a session for one client. */
export function openSession(ctx: SessionContext, options: OpenSessionOptions): SessionLifecycle {
  const binding = createBinding(options.holder, options.workTree);
  const live = ctx.changes ? createEventTracker(ctx, binding, ctx.changes, options.log) : undefined;
  const stopHeartbeat = startHeartbeat(ctx, binding, (err) => {
    options.log(`lease renewal failed: ${describeError(err)}`);
  });
  let closing: Promise<void> | null = null;
  return {
    binding,
    live,
    close(why) {
      closing ??= (async () => {
        options.log(`shutting down: ${why}`);
        live?.close(); // a wait in progress returns at once
        // A renewal in flight must settle before the release below.
        await stopHeartbeat();
        const held = binding.held?.sessionId;
        try {
          await release(ctx, binding);
          if (held) options.log(`released ${held}`);
        } catch (err) {
          options.log(`could not release ${held}: ${describeError(err)}`);
        }
      })();
      return closing;
    },
  };
}
