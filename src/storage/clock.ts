/**
 * The offset of a network store's clock from this machine's, shared by the
 * adapters that follow their server's clock (Redis's TIME, PostgreSQL's
 * clock_timestamp()).
 *
 * @module
 */

/**
 * The offset in ms to add to this machine's clock to get the server's, from
 * one exchange: `before` and `after` are this machine's clock around the
 * request, `serverMs` the server's clock when it answered.
 *
 * The server read its clock somewhere between `before` and `after`, so one
 * exchange knows the offset only to within half the round trip, plus a
 * millisecond because Date.now truncates. When 0 lies in that range the two
 * clocks cannot be told apart, and 0 is returned: every process on one
 * machine then keeps exactly this machine's clock, instead of each carrying
 * its own measuring error. (A round trip slowed by load once gave two
 * processes clocks a few ms apart, so a task's history showed a claim before
 * the completion that made it possible.)
 */
export function clockOffset(before: number, serverMs: number, after: number): number {
  const offset = serverMs - (before + after) / 2;
  const uncertainty = (after - before) / 2 + 1;
  return Math.abs(offset) <= uncertainty ? 0 : Math.round(offset);
}
