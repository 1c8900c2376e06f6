/**
 * Instances, leases and handoffs. A session signs on as an instance
 * (`claude_1`, `claude_2`, …) by writing a lease with compare-and-set into the
 * project-wide `instances` scope; the lease carries a storage TTL, so a crashed
 * process loses it after `lease_ttl_seconds` without anyone cleaning up, and a
 * grant id that fences every write made as the instance.
 *
 * Nothing here is global: the caller passes the SessionContext (what the server
 * shares) and a SessionBinding (who is calling). The stdio transport binds one
 * binding to its process; an HTTP transport binds one per client.
 *
 * @module
 */
export * from "./types.ts";
export { createBinding, requireSession, sessionScope } from "./binding.ts";
export {
  activeSessions,
  asLease,
  asOwner,
  compareSessionIds,
  firstAvailable,
  instancesScope,
  iso,
  isSessionId,
  leaseGuard,
  liveSession,
  readLeases,
  release,
  renewLease,
} from "./lease.ts";
export { readHandoffs } from "./handoff.ts";
export { holderAlive, holderTag, isDeadHeld, parseHolderTag } from "./held.ts";
export { signOff, signOn } from "./sign_on.ts";
export { startHeartbeat } from "./heartbeat.ts";
