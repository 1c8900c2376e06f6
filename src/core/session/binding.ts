/** A binding: who is calling (one per stdio process or per HTTP client) and what it holds. */
import { CoordinatorError } from "../errors.ts";
import type { HeldInstance, Holder, SessionBinding, WorkTreeInfo } from "./types.ts";

/** A fresh binding holding nothing, for the given holder and worktree reader. */
export function createBinding(
  holder: Holder,
  workTree: () => Promise<WorkTreeInfo>,
): SessionBinding {
  return { held: null, lostReason: null, turn: Promise.resolve(), holder, workTree };
}

/** The relative scope of a session's own state, as in the reference server. */
export function sessionScope(sessionId: string): string {
  return `session:${sessionId}`;
}

/** The held instance, or NOT_SIGNED_ON telling the agent what to do. */
export function requireSession(binding: SessionBinding): HeldInstance {
  if (binding.held) return binding.held;
  const why = binding.lostReason ? ` ${binding.lostReason}` : "";
  throw new CoordinatorError(
    "NOT_SIGNED_ON",
    `this session has not signed on.${why}`,
  );
}

/** Runs `fn` after every earlier sign_on/sign_off of the binding has settled. */
export function inTurn<T>(binding: SessionBinding, fn: () => Promise<T>): Promise<T> {
  const run = binding.turn.then(fn, fn);
  binding.turn = run.catch(() => {});
  return run;
}
