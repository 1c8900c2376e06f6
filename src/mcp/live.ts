/**
 * Live updates to one client, from the change hub:
 *
 * - resource subscriptions: `resources/subscribe` to session://context,
 *   session://tasks, session://inbox or session://state/{id}; a change that
 *   touches what a subscribed resource shows (in any process, on any
 *   machine) sends `notifications/resources/updated`, at most about four per
 *   second per resource (the rest are coalesced into the next one);
 * - `notifications/resources/list_changed` when the set of session-state
 *   resources changes;
 * - Claude Code channels: `notifications/claude/channel` for a message to
 *   this session (or to all) and for a task of interest becoming ready,
 *   once per event. A task is of interest when the session holds no task
 *   (anything ready is work it could take), or when the session posted it.
 *   Sent to Claude Code only (clientInfo.name "claude-code", see usesChannels): channels are
 *   its extension, and following the board costs every write a wake-up of
 *   this process.
 *
 * The change feed is watched only while something needs it: from the first
 * subscription, the first resources/list (list_changed is news only to a
 * client that listed), and for Claude Code from the start. A client that
 * uses none of these costs the other sessions' writes nothing.
 *
 * @module
 */
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  ErrorCode,
  McpError,
  type SubscribeRequest,
  SubscribeRequestSchema,
  type UnsubscribeRequest,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { relativeScope, resolveScope } from "../core/scope_names.ts";
import { HANDOFFS_SCOPE, INSTANCES_SCOPE } from "../core/session/types.ts";
import { MESSAGES_SCOPE, TASKS_SCOPE } from "../core/board/scopes.ts";
import { knownSessionIds } from "../core/views.ts";
import type { ChangeHub } from "../core/live/hub.ts";
import type { EventTracker, LiveEvent } from "../core/live/events.ts";
import type { Change } from "../storage/contract.ts";
import { isKnownResource } from "./resources.ts";
import type { ToolSession } from "./tool.ts";

/** Least time between two updates of one resource. */
const MIN_UPDATE_INTERVAL_MS = 250;
/** Least time between two list_changed notifications. */
const MIN_LIST_INTERVAL_MS = 1000;
/** Most message events pushed at once; more become one summary. */
const MAX_MESSAGE_PUSH = 3;

/** Sends at most one call per interval; calls in between are coalesced into one at its end. */
function coalesced(intervalMs: number, send: () => void): { poke(): void; stop(): void } {
  let last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const fire = () => {
    timer = null;
    last = performance.now();
    send();
  };
  return {
    poke() {
      if (timer !== null) return;
      const wait = last + intervalMs - performance.now();
      if (wait <= 0) fire();
      else timer = setTimeout(fire, wait);
    },
    stop() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

/** Which subscribed resources a change touches. */
function touches(uri: string, change: Change, session: ToolSession): boolean {
  if ("all" in change) return true;
  const id = session.ctx.identity;
  const full = (relative: string) => resolveScope(id, relative);
  return change.scopes.some((s) => {
    if (uri === "session://tasks") return s === full(TASKS_SCOPE) || s === full(INSTANCES_SCOPE);
    if (uri === "session://inbox") return s === full(MESSAGES_SCOPE);
    if (uri === "session://context") return relativeScope(id, s) !== null;
    const sessionId = decodeURIComponent(uri.slice("session://state/".length));
    const rel = relativeScope(id, s);
    return s === full(INSTANCES_SCOPE) || s === full(HANDOFFS_SCOPE) ||
      rel === `session:${sessionId}` || (rel?.endsWith(`:session:${sessionId}`) ?? false);
  });
}

/** The text of a channel event: short, and naming the tool that answers it. */
function channelEvent(event: LiveEvent): { content: string; meta: Record<string, string> } | null {
  if (event.kind === "message") {
    const what = event.subject ? `: ${event.subject.slice(0, 120)}` : "";
    return {
      content: `New message from ${event.from}${what}. Call read_messages to read it.`,
      meta: { kind: "message", from: event.from, message_id: event.message_id },
    };
  }
  if (event.kind === "task") {
    return {
      content: `Task ${event.task_id} is ready: ${
        event.title.slice(0, 120)
      }. Call claim_task to take it.`,
      meta: { kind: "task", from: event.created_by, task_id: event.task_id },
    };
  }
  return null;
}

/** What wireLive leaves to the server: hooks into requests it does not handle itself. */
export interface LiveWiring {
  /** The client listed resources: from now on it hears list_changed. */
  listed(): void;
  /** Stops every notification and watch. */
  stop(): void;
}

/**
 * Whether a client is Claude Code, the one client of the channels extension
 * (it names itself "claude-code"; a variant's suffix is allowed).
 */
export function usesChannels(clientName: string | undefined): boolean {
  return clientName !== undefined && /^claude[-_ ]?code(\b|[-_ ])/i.test(clientName);
}

/**
 * Wires subscriptions, list_changed and (with `channels`) channel pushes for
 * one server; the feed is watched only while one of them needs it.
 */
export function wireLive(
  server: Server,
  session: ToolSession,
  hub: ChangeHub,
  tracker: EventTracker,
  log: (line: string) => void,
  options: { channels: boolean },
): LiveWiring {
  const subscribed = new Map<string, ReturnType<typeof coalesced>>();
  const send = (promise: Promise<void>) =>
    promise.catch((err) => log(`could not notify the client: ${(err as Error).message}`));

  server.setRequestHandler(SubscribeRequestSchema, (request: SubscribeRequest) => {
    const uri = request.params.uri;
    if (!isKnownResource(uri)) {
      throw new McpError(
        ErrorCode.InvalidParams,
        `INVALID_ARGUMENT: cannot subscribe to ${uri}: no such resource (resources/list shows them).`,
      );
    }
    if (!subscribed.has(uri)) {
      subscribed.set(
        uri,
        coalesced(MIN_UPDATE_INTERVAL_MS, () => send(server.sendResourceUpdated({ uri }))),
      );
    }
    watch();
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, (request: UnsubscribeRequest) => {
    subscribed.get(request.params.uri)?.stop();
    subscribed.delete(request.params.uri);
    if (subscribed.size === 0 && !listing) unwatch();
    return {};
  });

  // list_changed: only when the session ids offered really changed, and only
  // to a client that listed them.
  let listing = false;
  let listed: string | null = null;
  const listCheck = coalesced(MIN_LIST_INTERVAL_MS, () => {
    knownSessionIds(session.ctx).then((ids) => {
      const now = ids.join(",");
      if (listed !== null && now !== listed) send(server.sendResourceListChanged());
      listed = now;
    }, () => {});
  });
  const instances = resolveScope(session.ctx.identity, INSTANCES_SCOPE);
  let stopHub: (() => void) | null = null;
  function watch(): void {
    stopHub ??= hub.subscribe((change) => {
      for (const [uri, notifier] of subscribed) {
        if (touches(uri, change, session)) notifier.poke();
      }
      if (!listing) return;
      const sessionsMayChange = "all" in change ||
        change.scopes.some((s) =>
          s === instances || (relativeScope(session.ctx.identity, s) ?? "").includes("session:")
        );
      if (sessionsMayChange) listCheck.poke();
    });
  }
  function unwatch(): void {
    stopHub?.();
    stopHub = null;
  }

  // Channels: one notification per event; a burst of messages becomes a summary.
  let burst: LiveEvent[] = [];
  let flush: ReturnType<typeof setTimeout> | null = null;
  const pushBurst = () => {
    flush = null;
    const events = burst;
    burst = [];
    const messages = events.filter((e) => e.kind === "message");
    const shown = messages.length > MAX_MESSAGE_PUSH ? [] : messages;
    if (messages.length > MAX_MESSAGE_PUSH) {
      send(server.notification({
        method: "notifications/claude/channel",
        params: {
          content: `${messages.length} new messages are waiting. Call read_messages to read them.`,
          meta: { kind: "message", count: String(messages.length) },
        },
      }));
    }
    for (const e of [...shown, ...events.filter((e) => e.kind === "task")]) {
      const params = channelEvent(e);
      if (params) send(server.notification({ method: "notifications/claude/channel", params }));
    }
  };
  const stopEvents = options.channels
    ? tracker.onEvent((event) => {
      if (session.binding.held === null) return;
      if (event.kind === "task") {
        const becameReady = event.status === "ready" && event.previous !== "ready";
        const interesting = tracker.heldTasks() === 0 ||
          event.created_by === session.binding.held.sessionId;
        if (!becameReady || !interesting) return;
      } else if (event.kind !== "message") return;
      burst.push(event);
      flush ??= setTimeout(pushBurst, 0);
    })
    : () => {};
  // Messages and tasks are followed from the start, for channel pushes.
  if (options.channels) {
    tracker.follow([]).catch((err) => log(`live: ${(err as Error).message}`));
  }

  return {
    listed() {
      if (listing) return;
      listing = true;
      knownSessionIds(session.ctx).then((ids) => listed ??= ids.join(","), () => {});
      watch();
    },
    stop() {
      unwatch();
      stopEvents();
      listCheck.stop();
      for (const n of subscribed.values()) n.stop();
      subscribed.clear();
      if (flush !== null) clearTimeout(flush);
    },
  };
}
