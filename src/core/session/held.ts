/**
 * Keys held by a session: a value that lives exactly as long as the session
 * that wrote it (store_data with_lease, task claims, file reservations). The
 * key carries its writer's grant as its storage heldBy tag, and is judged
 * lazily against the leases: it is live while the lease of that instance
 * still carries that grant. So it dies when its writer signs off, and within
 * one lease TTL after its writer's process dies, with no sweeper anywhere.
 */
import type { Entry } from "../../storage/contract.ts";
import type { HeldInstance, LeaseRecord } from "./types.ts";

/** The heldBy tag of a grant: `<session_id> <grant_id>`. */
export function holderTag(held: HeldInstance): string {
  return `${held.sessionId} ${held.grantId}`;
}

/** The instance and grant a tag names, or null for a tag that is not a holder's. */
export function parseHolderTag(tag: string | null): { sessionId: string; grantId: string } | null {
  if (tag === null) return null;
  const space = tag.indexOf(" ");
  if (space <= 0) return null;
  return { sessionId: tag.slice(0, space), grantId: tag.slice(space + 1) };
}

/** True when a heldBy tag names a grant that is still live (no tag: not held, so live). */
export function holderAlive(leases: ReadonlyMap<string, LeaseRecord>, tag: string | null): boolean {
  if (tag === null) return true;
  const holder = parseHolderTag(tag);
  if (holder === null) return true; // a tag of another kind: not ours to judge
  return leases.get(holder.sessionId)?.grant_id === holder.grantId;
}

/** True when an entry is held by a session that is gone: it reads as absent. */
export function isDeadHeld(leases: ReadonlyMap<string, LeaseRecord>, entry: Entry): boolean {
  return !holderAlive(leases, entry.heldBy);
}
