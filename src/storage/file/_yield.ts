/**
 * Keeps a loop of cache-answered reads from starving the event loop.
 */

/** Reads let the event loop run at least this often (ms). */
const MAX_SYNC_MS = 20;

/**
 * Reads are answered from the cache with a few synchronous calls, so a read
 * completes without the event loop running: a loop of nothing but reads
 * (polling a key, say) would starve timers and I/O. The returned function,
 * awaited by every read, arms a zero timer that notes the next turn of the
 * loop, and waits for one when none came for MAX_SYNC_MS. A read costs no
 * extra turn otherwise. One per adapter, so adapters share no state.
 */
export function createEventLoopTurn(): () => Promise<void> {
  /** Whether the event loop ran since `armedAt` (a zero timer set then has fired). */
  let loopTurned = true;
  let armedAt = 0;
  return async () => {
    const t = performance.now();
    if (loopTurned) {
      loopTurned = false;
      armedAt = t;
      setTimeout(() => {
        loopTurned = true;
      }, 0);
    } else if (t - armedAt >= MAX_SYNC_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  };
}
