/** Handoffs: what sign_off leaves for the next session of the same instance. */
import { isCoordinatorError } from "../errors.ts";
import type { JsonObject, JsonValue } from "../json.ts";
import { isPlainObject } from "../json.ts";
import { resolveScope } from "../scope_names.ts";
import type { Guard } from "../../storage/contract.ts";
import { iso } from "./lease.ts";
import { type Handoff, HANDOFFS_SCOPE, type SessionContext } from "./types.ts";

function asHandoff(value: JsonValue | undefined): Handoff | null {
  return isPlainObject(value) && typeof value.session_id === "string"
    ? value as unknown as Handoff
    : null;
}

function handoffsScope(ctx: SessionContext): string {
  return resolveScope(ctx.identity, HANDOFFS_SCOPE);
}

/** Every stored handoff of the project, by session id. */
export async function readHandoffs(ctx: SessionContext): Promise<Map<string, Handoff>> {
  const entries = await ctx.storage.listEntries(handoffsScope(ctx));
  const out = new Map<string, Handoff>();
  for (const { key, entry } of entries) {
    const handoff = asHandoff(entry.value);
    if (handoff) out.set(key, handoff);
  }
  return out;
}

/** The handoff waiting for an instance, or null. */
export async function readHandoff(
  ctx: SessionContext,
  sessionId: string,
): Promise<Handoff | null> {
  return asHandoff((await ctx.storage.retrieve(handoffsScope(ctx), sessionId))?.value);
}

/**
 * Reads the instance's handoff and, the first time, stamps it with when and
 * by whom it was received: a later session of the same instance then sees
 * that an earlier one already started from it (and may have crashed since).
 * The stamp is fenced on the receiver's lease like every write as an instance.
 */
export async function receiveHandoff(
  ctx: SessionContext,
  sessionId: string,
  pid: number,
  guard: Guard,
): Promise<Handoff | null> {
  const scope = handoffsScope(ctx);
  const entry = await ctx.storage.retrieve(scope, sessionId);
  const handoff = asHandoff(entry?.value);
  if (!entry || !handoff || handoff.received_at) return handoff;
  const stamped: Handoff = {
    ...handoff,
    received_at: iso(ctx.storage.now()),
    received_by_pid: pid,
  };
  try {
    await ctx.storage.store(scope, sessionId, stamped as unknown as JsonObject, {
      ifVersion: entry.version,
      updatedBy: sessionId,
      guard,
    });
  } catch (err) {
    // A concurrent sign_off wrote a newer handoff: that one is for the next session.
    if (!isCoordinatorError(err, "VERSION_CONFLICT") || err.details.guard !== undefined) throw err;
  }
  return handoff;
}

/** Stores the handoff an instance leaves, fenced on its lease. */
export async function writeHandoff(
  ctx: SessionContext,
  handoff: Handoff,
  guard: Guard,
): Promise<void> {
  await ctx.storage.store(
    handoffsScope(ctx),
    handoff.session_id,
    handoff as unknown as JsonObject,
    {
      updatedBy: handoff.session_id,
      guard,
    },
  );
}
