/**
 * The eight tools, the public API. Each handler is a few lines: the domain
 * (session.ts, state.ts) does the work, results.ts shapes the answer.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { JsonValue } from "../core/json.ts";
import { type SessionBinding, type SessionContext, signOff, signOn } from "../core/session/mod.ts";
import {
  deleteData,
  deleteScope,
  listKeys,
  listScopes,
  retrieveData,
  storeData,
} from "../core/data.ts";
import { runTool, toolError } from "./results.ts";
import * as s from "./schemas.ts";

/** The tool names, in the order they are listed. */
export const TOOL_NAMES = [
  "sign_on",
  "sign_off",
  "store_data",
  "retrieve_data",
  "delete_data",
  "delete_scope",
  "list_keys",
  "list_scopes",
] as const;

const ERRORS_ALL =
  "Errors (isError results whose text starts with the code): NOT_SIGNED_ON (call sign_on first), INVALID_ARGUMENT (fix the named argument), CORRUPT_STATE (a state file is damaged; the message names it), STORAGE_UNAVAILABLE (backend unreachable; retry).";

const SCOPES =
  'Scopes are relative: "tasks" means this machine\'s scope of this project; "@project:tasks" is shared by every machine of the project; "@machine:<id>:tasks" reads another machine\'s scope.';

const DESCRIPTIONS: Record<(typeof TOOL_NAMES)[number], string> = {
  sign_on: [
    "Sign this session on as an instance (claude_1, claude_2, …). Call it FIRST, before any other tool.",
    "Without session_id you get the lowest free instance; pass session_id to resume a specific instance and receive the handoff its last session left (summary, next_steps, branch, commit).",
    "The result also lists the other active sessions (machine, worktree, branch) so you can avoid their work.",
    "Your claim is a lease the server renews while you are connected; if your process dies it expires after session.lease_ttl_seconds and the instance becomes free again.",
    "Calling sign_on again keeps your instance (claim: renewed); naming another instance switches to it.",
    'Example: sign_on({}) → {"session_id":"claude_2","handoff":null,"active_sessions":[…]}.',
    "Errors: INSTANCE_TAKEN (that instance is held by a live session; the message gives its last_seen and lease expiry — sign on without session_id instead), INVALID_ARGUMENT, STORAGE_UNAVAILABLE.",
  ].join("\n"),
  sign_off: [
    "Sign off at the end of your work: stores a handoff (your summary and next_steps, plus the git branch and HEAD commit the server records itself) and releases your instance at once.",
    "The next session that signs on as the same instance receives this handoff, so write what you did and what is left.",
    'Example: sign_off({"summary":"Fixed the login race; tests green","next_steps":["Review PR #12","Update the changelog"]}).',
    "Errors: NOT_SIGNED_ON, INVALID_ARGUMENT, STORAGE_UNAVAILABLE.",
  ].join("\n"),
  store_data: [
    "Store any JSON value under scope + key. Every write gets a new version number.",
    "Use your own scope session:<your id> for progress (current_issue, status, todos) so others see it in session://context.",
    'Example, claiming shared work without racing: store_data({"scope":"@project:claims","key":"issue-42","value":{"by":"claude_2"},"if_version":0,"ttl_seconds":3600}) — if_version 0 succeeds only if nobody has claimed it; a VERSION_CONFLICT means someone else has. To update safely, pass the version you last read.',
    "ttl_seconds makes the key expire on its own (claims that must not outlive a crash).",
    SCOPES,
    "Errors: VERSION_CONFLICT (the key changed; the message gives current_version — re-read and retry), VALUE_TOO_LARGE (over limits.max_value_bytes; split it), INVALID_ARGUMENT (also for the reserved scopes @project:instances and @project:handoffs, which sign_on and sign_off manage), " +
    ERRORS_ALL.slice(ERRORS_ALL.indexOf("NOT_SIGNED_ON")),
  ].join("\n"),
  retrieve_data: [
    "Read the value under scope + key, with its version, updated_at and updated_by (the session that wrote it).",
    "found is false (value null, version 0) when the key is absent or expired; version 0 is exactly the if_version that claims an absent key.",
    'Example: retrieve_data({"scope":"@project:claims","key":"issue-42"}).',
    SCOPES,
    ERRORS_ALL,
  ].join("\n"),
  delete_data: [
    "Delete one key. Returns deleted: false when it did not exist.",
    "Pass if_version to delete only the version you read (release a claim only if it is still yours).",
    'Example: delete_data({"scope":"@project:claims","key":"issue-42","if_version":7}).',
    SCOPES,
    "Errors: VERSION_CONFLICT (someone changed it since you read it), " +
    ERRORS_ALL.slice(ERRORS_ALL.indexOf("NOT_SIGNED_ON")),
  ].join("\n"),
  delete_scope: [
    "Delete a whole scope and every key in it. Returns deleted: false when it held nothing.",
    "Destructive: others may be reading the scope. Prefer delete_data for single keys.",
    'Example: delete_scope({"scope":"scratch"}).',
    SCOPES,
    ERRORS_ALL,
  ].join("\n"),
  list_keys: [
    "List the live keys of a scope, sorted.",
    'Example: list_keys({"scope":"session:claude_1"}) → {"keys":["current_issue","status","todos"]}.',
    SCOPES,
    ERRORS_ALL,
  ].join("\n"),
  list_scopes: [
    "List the project's scopes that hold data, on every machine, sorted, in the relative form the other tools take (this machine's bare, shared ones as @project:…, other machines' as @machine:<id>:…).",
    'pattern is an fnmatch glob over those names: "*" matches any run of characters including ":" and "/", "?" one character, "[abc]" and "[!abc]" sets. Example: list_scopes({"pattern":"session:*"}).',
    ERRORS_ALL,
  ].join("\n"),
};

/** Registers the eight tools for one binding. */
export function registerTools(
  server: McpServer,
  ctx: SessionContext,
  binding: SessionBinding,
  log: (line: string) => void,
): void {
  const run = (fn: () => Promise<object>): Promise<CallToolResult> => runTool(fn, log);
  const read = {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  };
  const write = { readOnlyHint: false, destructiveHint: false, openWorldHint: false };
  const destroy = {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: false,
  };

  server.registerTool(
    "sign_on",
    {
      title: "Sign on",
      description: DESCRIPTIONS.sign_on,
      inputSchema: s.signOnInput,
      outputSchema: s.signOnOutput,
      annotations: { ...write, idempotentHint: false },
    },
    (a: s.Args<typeof s.signOnInput>) =>
      run(() => signOn(ctx, binding, { sessionId: a.session_id })),
  );

  server.registerTool(
    "sign_off",
    {
      title: "Sign off with a handoff",
      description: DESCRIPTIONS.sign_off,
      inputSchema: s.signOffInput,
      outputSchema: s.signOffOutput,
      annotations: { ...write, idempotentHint: false },
    },
    (a: s.Args<typeof s.signOffInput>) =>
      run(() => signOff(ctx, binding, { summary: a.summary, nextSteps: a.next_steps })),
  );

  server.registerTool("store_data", {
    title: "Store data",
    description: DESCRIPTIONS.store_data,
    inputSchema: s.storeInput,
    outputSchema: s.storeOutput,
    annotations: { ...write, idempotentHint: false },
  }, (a: s.Args<typeof s.storeInput>) =>
    run(() =>
      storeData(ctx, binding, {
        scope: a.scope,
        key: a.key,
        value: a.value as JsonValue,
        ifVersion: a.if_version,
        ttlSeconds: a.ttl_seconds,
      })
    ));

  server.registerTool("retrieve_data", {
    title: "Retrieve data",
    description: DESCRIPTIONS.retrieve_data,
    inputSchema: s.scopeKeyInput,
    outputSchema: s.retrieveOutput,
    annotations: read,
  }, (a: s.Args<typeof s.scopeKeyInput>) => run(() => retrieveData(ctx, binding, a)));

  server.registerTool(
    "delete_data",
    {
      title: "Delete a key",
      description: DESCRIPTIONS.delete_data,
      inputSchema: s.deleteInput,
      outputSchema: s.deletedOutput,
      annotations: destroy,
    },
    (a: s.Args<typeof s.deleteInput>) =>
      run(() => deleteData(ctx, binding, { ...a, ifVersion: a.if_version })),
  );

  server.registerTool("delete_scope", {
    title: "Delete a scope",
    description: DESCRIPTIONS.delete_scope,
    inputSchema: s.scopeInput,
    outputSchema: s.deletedOutput,
    annotations: destroy,
  }, (a: s.Args<typeof s.scopeInput>) => run(() => deleteScope(ctx, binding, a)));

  server.registerTool("list_keys", {
    title: "List keys",
    description: DESCRIPTIONS.list_keys,
    inputSchema: s.scopeInput,
    outputSchema: s.listKeysOutput,
    annotations: read,
  }, (a: s.Args<typeof s.scopeInput>) => run(() => listKeys(ctx, binding, a)));

  server.registerTool("list_scopes", {
    title: "List scopes",
    description: DESCRIPTIONS.list_scopes,
    inputSchema: s.listScopesInput,
    outputSchema: s.listScopesOutput,
    annotations: read,
  }, (a: s.Args<typeof s.listScopesInput>) => run(() => listScopes(ctx, binding, a)));

  // The SDK reports schema violations and unknown tools as plain text; give
  // them our stable code so clients can match on it like every other error.
  // createToolError is private in the SDK's types, hence the cast.
  const internals = server as unknown as { createToolError: (message: string) => CallToolResult };
  internals.createToolError = (message: string) =>
    /not found/.test(message) && /^MCP error -32602: Tool /.test(message)
      ? toolError(
        "INVALID_ARGUMENT",
        `${message.replace(/^MCP error -32602: /, "")}; the tools are ${TOOL_NAMES.join(", ")}.`,
      )
      : /Output validation error/.test(message)
      ? toolError("INTERNAL_ERROR", message)
      : /Maximum call stack size exceeded/.test(message)
      ? toolError(
        "INVALID_ARGUMENT",
        "an argument is nested too deeply to validate (keep JSON values under about 1,000 levels of nesting).",
      )
      : toolError("INVALID_ARGUMENT", message.replace(/^MCP error -32602: /, ""));
}
