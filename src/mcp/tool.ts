/**
 * One tool = one definition: name, title, description, arguments,
 * annotations and handler side by side, so the public surface reads as one
 * list (src/mcp/tools/). The handler is a few lines: the domain does the work.
 *
 * @module
 */
import type { SessionBinding, SessionContext } from "../core/session/mod.ts";
import type { EventTracker } from "../core/live/events.ts";
import type { Args, Params } from "./params.ts";

/** What a handler acts for: the shared context and the calling session's binding. */
export interface ToolSession {
  ctx: SessionContext;
  binding: SessionBinding;
  /** What changed for this session (the wait tool); absent without a change feed. */
  live?: EventTracker;
}

/** MCP tool annotations (hints for clients). */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint: boolean;
}

/** A tool of the public API. */
export interface ToolDefinition<P extends Params = Params> {
  name: string;
  title: string;
  /** Short and teaching: agents pay for every word on every turn. */
  description: string;
  params: P;
  annotations: ToolAnnotations;
  /**
   * Does the work; throws CoordinatorError for anything a user can meet.
   * `signal` aborts when the client cancels the call or goes away.
   */
  run(args: Args<P>, session: ToolSession, signal?: AbortSignal): Promise<object>;
}

/** Declares a tool (keeps the argument types of `run` tied to `params`). */
export function defineTool<const P extends Params>(def: ToolDefinition<P>): ToolDefinition {
  return def as unknown as ToolDefinition;
}

/** Reads only. */
export const READ: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};

/** Writes, not idempotent. */
export const WRITE: ToolAnnotations = {
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: false,
  openWorldHint: false,
};

/** Deletes. */
export const DESTROY: ToolAnnotations = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: true,
  openWorldHint: false,
};
