/** sign_on and sign_off. */
import { signOff, signOn } from "../../core/session/mod.ts";
import { defineTool, WRITE } from "../tool.ts";

/** sign_on. */
export const signOnTool = defineTool({
  name: "sign_on",
  title: "Sign on",
  description:
    "Sign on as an instance (claude_1, claude_2, …). Call it FIRST. Omit session_id for the lowest free instance; pass one to resume it and receive its last session's handoff (summary, next_steps, branch, commit). Returns the other active sessions (machine, worktree, branch). Your lease is renewed while you are connected; a crashed session's instance frees itself after session.lease_ttl_seconds. Calling it again renews (claim: renewed). INSTANCE_TAKEN: a live session holds it; sign on without session_id.",
  params: {
    session_id: {
      type: "string",
      min: 1,
      max: 64,
      description: 'e.g. "claude_2"; omit for the lowest free instance',
    },
  },
  annotations: WRITE,
  run: (a, { ctx, binding }) => signOn(ctx, binding, { sessionId: a.session_id }),
});

/** sign_off. */
export const signOffTool = defineTool({
  name: "sign_off",
  title: "Sign off with a handoff",
  description:
    "Sign off when you stop: stores a handoff (your summary and next_steps, plus the branch and HEAD commit the server reads) for the next session of your instance, and frees your instance at once. Write what you did and what is left.",
  params: {
    summary: { type: "string", max: 20_000, description: "what you did, for the next session" },
    next_steps: {
      type: "array",
      items: { type: "string", max: 2_000 },
      max: 200,
      description: "what the next session should do first",
    },
  },
  annotations: WRITE,
  run: (a, { ctx, binding }) =>
    signOff(ctx, binding, { summary: a.summary, nextSteps: a.next_steps }),
});
