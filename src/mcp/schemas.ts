/**
 * Zod schemas of the public API: tool inputs and outputs. Kept as module-level
 * constants so registerTool's types stay shallow (TS2589) and the whole
 * surface reads as one list.
 */
import { z } from "zod";

/**
 * Any JSON value, declared recursively so strict clients see a real schema.
 * zod rebuilds objects while it validates and drops "__proto__" keys on the
 * way (a guard against prototype pollution); to us such a key is plain data
 * that must not vanish. So the value is validated as JSON and then handed on
 * as it arrived: JSON.parse made it, so its "__proto__" keys are own data.
 */
export const jsonValue = keepInput(z.json());

/** jsonValue with a description; describe() clones a schema, so the clone is wrapped too. */
function describedJson(description: string) {
  return keepInput(jsonValue.describe(description));
}

// deno-lint-ignore no-explicit-any -- zod's internal parse payload and context are untyped here.
type ZodRun = (payload: any, ctx: any) => any;

/** Makes a schema return its input unchanged whenever it validates. */
function keepInput<T extends z.ZodType>(schema: T): T {
  const internals = schema._zod as unknown as { run: ZodRun };
  const run = internals.run;
  internals.run = (payload, ctx) => {
    const input = payload.value;
    // deno-lint-ignore no-explicit-any -- see ZodRun
    const keep = (p: any) => {
      if (p.issues.length === 0) p.value = input;
      return p;
    };
    const out = run(payload, ctx);
    return out instanceof Promise ? out.then(keep) : keep(out);
  };
  return schema;
}

const relScope = z.string().min(1).max(400).describe(
  'Relative scope, e.g. "session:claude_1", "tasks", "@project:claims" (shared by every machine) or "@machine:laptop:session:claude_2" (another machine\'s scope).',
);
const key = z.string().min(1).max(256).describe("Key inside the scope (1-256 characters).");
const ifVersion = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).describe(
  "Compare-and-set: write only if the key's current version is this; 0 means only if the key is absent.",
);
const isoTime = z.string().describe("ISO-8601 time");
/**
 * A string or null. The described branch keeps the JSON Schema an `anyOf` of
 * single-type branches; zod folds a bare `string | null` into `type: [..]`,
 * which strict clients (MCP Inspector --strict) flag as unportable.
 */
const nullableString = (description: string) => z.string().describe(description).nullable();
const branchName = () => nullableString("Git branch; null on a detached HEAD or outside git.");

/** sign_on input. */
export const signOnInput = {
  session_id: z.string().min(1).max(64).optional().describe(
    'Instance to claim, e.g. "claude_2" (resumes its handoff). Omit to get the lowest free instance.',
  ),
};

const activeSession = z.object({
  session_id: z.string(),
  machine: z.string(),
  since: isoTime,
  last_seen: isoTime,
  lease_expires_at: isoTime,
  worktree: z.string(),
  branch: branchName(),
});

const handoff = z.object({
  session_id: z.string(),
  machine: z.string(),
  summary: nullableString("What the last session did."),
  next_steps: z.array(z.string()),
  signed_off_at: isoTime,
  worktree: z.string(),
  branch: branchName(),
  commit: nullableString("HEAD commit at sign-off; null outside git or before the first commit."),
  received_at: isoTime.optional().describe(
    "Set once a session has signed on and received this handoff: a session that finds it set knows an earlier one already started from it (and may have crashed; read its session scope).",
  ),
  received_by_pid: z.number().int().optional(),
});

/** sign_on output. */
export const signOnOutput = {
  machine: z.string(),
  project: z.string(),
  session_id: z.string(),
  full_scope_prefix: z.string(),
  lease_expires_at: isoTime,
  claim: z.enum(["claimed", "renewed"]),
  handoff: handoff.nullable(),
  active_sessions: z.array(activeSession),
};

/** sign_off input. */
export const signOffInput = {
  summary: z.string().max(20_000).optional().describe("What this session did, for the next one."),
  next_steps: z.array(z.string().max(2_000)).max(200).optional().describe(
    "What the next session of this instance should do first.",
  ),
};

/** sign_off output. */
export const signOffOutput = {
  status: z.literal("signed_off"),
  session_id: z.string(),
  handoff,
};

/** store_data input. */
export const storeInput = {
  scope: relScope,
  key,
  value: describedJson("Any JSON value: object, array, string, number, boolean or null."),
  if_version: ifVersion.optional(),
  ttl_seconds: z.number().positive().max(315_360_000).optional().describe(
    "Expire the key after this many seconds (claims that must not outlive a crash).",
  ),
};

/** store_data output. */
export const storeOutput = {
  scope: z.string(),
  key: z.string(),
  version: z.number().int(),
  updated_at: isoTime,
  expires_at: isoTime.nullable(),
};

/** scope + key input (retrieve_data). */
export const scopeKeyInput = { scope: relScope, key };

/** retrieve_data output. */
export const retrieveOutput = {
  scope: z.string(),
  key: z.string(),
  found: z.boolean(),
  value: jsonValue,
  version: z.number().int().describe("Current version; 0 when absent (use it as if_version)."),
  updated_at: isoTime.nullable(),
  updated_by: nullableString("Session that wrote the value; null when absent."),
  expires_at: isoTime.nullable(),
};

/** delete_data input. */
export const deleteInput = { scope: relScope, key, if_version: ifVersion.optional() };

/** delete_data / delete_scope output. */
export const deletedOutput = { deleted: z.boolean() };

/** scope-only input (delete_scope, list_keys). */
export const scopeInput = { scope: relScope };

/** list_keys output. */
export const listKeysOutput = { scope: z.string(), keys: z.array(z.string()) };

/** list_scopes input. */
export const listScopesInput = {
  pattern: z.string().max(512).optional().describe(
    'fnmatch glob over relative scope names: "*" (crosses ":" and "/"), "?", "[abc]", "[!abc]". E.g. "session:*".',
  ),
};

/** list_scopes output. */
export const listScopesOutput = { scopes: z.array(z.string()) };

/**
 * Handler argument types, inferred from our own shapes. Under Deno the SDK's
 * declarations see zod as `any`, so handlers annotate their arguments.
 */
export type Args<S extends z.ZodRawShape> = z.infer<z.ZodObject<S>>;
