/** sign_on and sign_off: claiming or renewing an instance, and leaving a handoff. */
import { invalidArgument } from "../errors.ts";
import type { JsonObject } from "../json.ts";
import { resolveScope } from "../scope_names.ts";
import { inTurn } from "./binding.ts";
import { readHandoff, receiveHandoff } from "./handoff.ts";
import {
  activeSessions,
  AUTO_NAME,
  claimLowest,
  claimNamed,
  iso,
  liveSession,
  readLeases,
  release,
  releaseLease,
  renewLease,
  validateSessionId,
} from "./lease.ts";
import {
  type Handoff,
  HANDOFFS_SCOPE,
  type HeldInstance,
  type SessionBinding,
  type SessionContext,
  type SignOnResult,
} from "./types.ts";

/**
 * Signs the binding on. Without `sessionId` it claims the lowest free
 * instance. Calling it again while holding an instance re-claims (renews) that
 * instance when `sessionId` is omitted or the same; naming another instance
 * claims that one first and then releases the old one, so a failed switch
 * keeps the old instance.
 */
export function signOn(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { sessionId?: string } = {},
): Promise<SignOnResult> {
  return inTurn(binding, () => signOnNow(ctx, binding, options));
}

async function signOnNow(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { sessionId?: string },
): Promise<SignOnResult> {
  const wanted = options.sessionId;
  if (wanted !== undefined) validateSessionId(wanted);
  if (wanted !== undefined && ctx.maxInstances !== undefined) {
    const n = AUTO_NAME.exec(wanted);
    if (n && Number(n[1]) > ctx.maxInstances) {
      throw invalidArgument(
        `${wanted} is beyond session.max_instances (${ctx.maxInstances}); pick claude_1 … claude_${ctx.maxInstances}.`,
      );
    }
  }
  let claim: SignOnResult["claim"] = "claimed";
  let held: HeldInstance;
  const previous = binding.held;
  if (previous && (wanted === undefined || wanted === previous.sessionId)) {
    held = await renewLease(ctx, binding);
    claim = "renewed";
  } else {
    held = wanted === undefined ? await claimLowest(ctx) : await claimNamed(ctx, wanted);
    // Release what the binding holds now: a heartbeat may have renewed the
    // old lease (a newer version) while the new claim was under way.
    const old = binding.held;
    binding.held = held;
    binding.lostReason = null;
    if (old) await releaseLease(ctx, old);
  }
  const [leases, handoff] = await Promise.all([
    readLeases(ctx),
    claim === "claimed" ? receiveHandoff(ctx, held.sessionId) : readHandoff(ctx, held.sessionId),
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

/**
 * Signs off: stores a handoff for the next session of this instance (with the
 * branch and HEAD commit the server reads itself), then releases the lease.
 */
export function signOff(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { summary?: string; nextSteps?: string[] } = {},
): Promise<{ status: "signed_off"; session_id: string; handoff: Handoff }> {
  return inTurn(binding, () => signOffNow(ctx, binding, options));
}

async function signOffNow(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { summary?: string; nextSteps?: string[] },
): Promise<{ status: "signed_off"; session_id: string; handoff: Handoff }> {
  // A session paused past its lease must not leave a handoff on an instance
  // someone else holds now.
  const held = await liveSession(ctx, binding);
  const tree = await ctx.workTree();
  const handoff: Handoff = {
    session_id: held.sessionId,
    machine: ctx.identity.machine,
    summary: options.summary ?? null,
    next_steps: options.nextSteps ?? [],
    signed_off_at: iso(ctx.now()),
    worktree: tree.path,
    branch: tree.branch,
    commit: tree.head,
  };
  await ctx.storage.store(
    resolveScope(ctx.identity, HANDOFFS_SCOPE),
    held.sessionId,
    handoff as unknown as JsonObject,
    { updatedBy: held.sessionId },
  );
  await release(ctx, binding);
  return { status: "signed_off", session_id: held.sessionId, handoff };
}
