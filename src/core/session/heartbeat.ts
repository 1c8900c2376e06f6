/** The heartbeat: renews a binding's lease every third of its TTL. */
import { renewLease } from "./lease.ts";
import type { SessionBinding, SessionContext } from "./types.ts";

/**
 * Renews the binding's lease every third of its TTL until stopped, on the
 * context's scheduler. Errors are reported, not thrown: a storage outage must
 * not kill the server. The stop function resolves once a renewal in flight
 * has settled, so a release after it cannot be overtaken by that renewal.
 */
export function startHeartbeat(
  ctx: SessionContext,
  binding: SessionBinding,
  onError: (err: unknown) => void,
): () => Promise<void> {
  let inFlight: Promise<void> | null = null;
  const stop = ctx.scheduler.every(Math.max(250, (ctx.leaseTtlSeconds * 1000) / 3), () => {
    if (!binding.held || inFlight) return;
    inFlight = renewLease(ctx, binding).then(
      () => {},
      (err) => {
        // Released meanwhile (sign_off): nothing failed.
        if (binding.held !== null || binding.lostReason !== null) onError(err);
      },
    ).finally(() => {
      inFlight = null;
    });
  });
  return () => {
    stop();
    return inFlight ?? Promise.resolve();
  };
}
