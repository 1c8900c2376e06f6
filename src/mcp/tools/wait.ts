/** wait: returns when something of interest changes, for clients that get no push. */
import { CoordinatorError, invalidArgument } from "../../core/errors.ts";
import { resolveScope } from "../../core/scope_names.ts";
import { liveSession } from "../../core/session/mod.ts";
import type { LiveEvent, WaitSpec } from "../../core/live/events.ts";
import { defineTool, READ } from "../tool.ts";

const DEFAULT_TIMEOUT_S = 30;
const MAX_TIMEOUT_S = 300;

/** Reads `for` into what to wait for; scope names are checked like every other tool's. */
function waitSpec(items: string[], identity: Parameters<typeof resolveScope>[0]): WaitSpec {
  const spec: WaitSpec = { messages: false, tasks: false, scopes: [] };
  for (const item of items) {
    if (item === "messages") spec.messages = true;
    else if (item === "tasks") spec.tasks = true;
    else {
      resolveScope(identity, item); // INVALID_ARGUMENT for a bad name
      spec.scopes.push(item);
    }
  }
  return spec;
}

/** Resolves after `ms`, or at once when `signal` aborts; never keeps the process alive. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    Deno.unrefTimer(timer);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** wait. */
export const waitTool = defineTool({
  name: "wait",
  title: "Wait for a change",
  description:
    'Block until something changes for you, then return what: "messages" (a message to you or all), "tasks" (a task posted or changing status), or scope names (a key written there by anyone). Returns at once with changes since your previous wait. timed_out true when nothing happened.',
  params: {
    for: {
      type: "array",
      items: { type: "string", min: 1, max: 400 },
      max: 20,
      required: true,
      description: '"messages", "tasks" and/or scope names',
    },
    timeout_seconds: {
      type: "number",
      above: 0,
      max: MAX_TIMEOUT_S,
      description: `default ${DEFAULT_TIMEOUT_S}`,
    },
  },
  annotations: { ...READ, idempotentHint: false },
  run: async (a, { ctx, binding, live }, signal) => {
    await liveSession(ctx, binding);
    if (a.for.length === 0) {
      throw invalidArgument('for must name at least one of "messages", "tasks" or a scope.');
    }
    if (live === undefined) {
      throw new CoordinatorError(
        "STORAGE_UNAVAILABLE",
        "this server has no change feed to wait on.",
      );
    }
    const spec = waitSpec(a.for, ctx.identity);
    await live.follow(spec.scopes);
    const deadline = performance.now() + (a.timeout_seconds ?? DEFAULT_TIMEOUT_S) * 1000;
    for (;;) {
      const events: LiveEvent[] = live.take(spec);
      if (events.length > 0) return { timed_out: false, events };
      const left = deadline - performance.now();
      if (left <= 0 || live.closed || signal?.aborted) return { timed_out: true, events };
      await Promise.race([live.next(), pause(left, signal)]);
    }
  },
});
