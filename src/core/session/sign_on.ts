/** sign_on and sign_off: claiming or renewing an instance, and leaving a handoff. */
import { invalidArgument, isCoordinatorError } from "../errors.ts";
import { isGuardFailure } from "../../storage/values.ts";
import { inTurn } from "./binding.ts";
import { readHandoff, receiveHandoff, writeHandoff } from "./handoff.ts";
import {
  activeSessions,
  asOwner,
  AUTO_NAME,
  claimLowest,
  claimNamed,
  iso,
  leaseGuard,
  leaseLost,
  readLeases,
  release,
  releaseLease,
  renewLease,
  validateSessionId,
} from "./lease.ts";
import type {
  Handoff,
  HeldInstance,
  SessionBinding,
  SessionContext,
  SignOnResult,
} from "./types.ts";

/**
 * Signs the binding on. Without `sessionId` it claims the lowest free
 * instance. Calling it again while holding an instance renews that instance
 * when `sessionId` is omitted or the same (or claims anew when the lease was
 * lost meanwhile); naming another instance claims that one first and then
 * releases the old one, so a failed switch keeps the old instance.
 */
export function signOn(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { sessionId?: string } = {},
): Promise<SignOnResult> {
  return inTurn(binding, () => signOnNow(ctx, binding, options));
}

function checkWanted(ctx: SessionContext, wanted: string | undefined): void {
  if (wanted === undefined) return;
  validateSessionId(wanted);
  const max = ctx.maxInstances;
  const n = AUTO_NAME.exec(wanted);
  // Compared as digit strings: claude_1000000000000000000001 is beyond any cap too.
  if (n && max !== undefined && (n[1].length > 15 || Number(n[1]) > max)) {
    throw invalidArgument(
      `${wanted} is beyond session.max_instances (${max}); pick claude_1 … claude_${max}.`,
    );
  }
}

async function signOnNow(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { sessionId?: string },
): Promise<SignOnResult> {
  const wanted = options.sessionId;
  checkWanted(ctx, wanted);
  let held: HeldInstance | null = null;
  const previous = binding.held;
  if (previous && (wanted === undefined || wanted === previous.sessionId)) {
    try {
      held = await renewLease(ctx, binding);
    } catch (err) {
      // Lost while away: signing on again is exactly what the caller asked for.
      if (!isCoordinatorError(err, "NOT_SIGNED_ON")) throw err;
    }
  }
  const claim: SignOnResult["claim"] = held ? "renewed" : "claimed";
  if (!held) {
    const tree = await binding.workTree();
    held = wanted === undefined
      ? await claimLowest(ctx, binding, tree)
      : await claimNamed(ctx, binding, wanted, tree);
    // Release what the binding holds now: a heartbeat may have renewed the
    // old lease while the new claim was under way.
    const old = binding.held;
    binding.held = held;
    binding.lostReason = null;
    if (old) await releaseLease(ctx, old);
  }
  const [leases, handoff] = await Promise.all([
    readLeases(ctx),
    claim === "claimed" ? receive(ctx, binding, held) : readHandoff(ctx, held.sessionId),
  ]);
  return {
    machine: ctx.identity.machine,
    project: ctx.identity.project,
    session_id: held.sessionId,
    full_scope_prefix: `${ctx.identity.machine}:${ctx.identity.project}:`,
    lease_expires_at: held.lease.lease_expires_at,
    claim,
    handoff,
    active_sessions: activeSessions(leases),
  };
}

async function receive(
  ctx: SessionContext,
  binding: SessionBinding,
  held: HeldInstance,
): Promise<Handoff | null> {
  try {
    return await receiveHandoff(ctx, held.sessionId, binding.holder.pid, leaseGuard(ctx, held));
  } catch (err) {
    if (isGuardFailure(err)) throw await leaseLost(ctx, binding, held);
    throw err;
  }
}

/**
 * Signs off: stores a handoff for the next session of this instance (with the
 * branch and HEAD commit the server reads itself), then releases the lease.
 * Both are fenced on the session's grant: a session that lost its instance
 * leaves no handoff on an instance someone else holds now.
 */
export function signOff(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { summary?: string; nextSteps?: string[] } = {},
): Promise<{ status: "signed_off"; session_id: string; handoff: Handoff }> {
  return inTurn(binding, () =>
    asOwner(ctx, binding, async (guard, held) => {
      const tree = await binding.workTree();
      const handoff: Handoff = {
        session_id: held.sessionId,
        machine: ctx.identity.machine,
        summary: options.summary ?? null,
        next_steps: options.nextSteps ?? [],
        signed_off_at: iso(ctx.storage.now()),
        worktree: tree.path,
        branch: tree.branch,
        commit: tree.head,
      };
      await writeHandoff(ctx, handoff, guard);
      await release(ctx, binding);
      return { status: "signed_off" as const, session_id: held.sessionId, handoff };
    }));
}
