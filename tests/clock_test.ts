/**
 * clockOffset: the offset of a network store's clock, from one exchange. A
 * store on this machine must give every process exactly this machine's
 * clock, whatever the round trip; a real skew beyond the round trip is kept.
 */
import assert from "node:assert/strict";
import { clockOffset } from "../src/storage/clock.ts";

Deno.test("clockOffset: the same clock read through a round trip of any length is offset 0", () => {
  // Sub-millisecond round trip: Date.now truncated both readings, the server kept its fraction.
  assert.equal(clockOffset(1000, 1000.9, 1000), 0);
  // A round trip stretched by load on one side only: the midpoint is 10 ms off, yet 0 fits.
  assert.equal(clockOffset(0, 21, 22), 0);
  assert.equal(clockOffset(0, 1, 22), 0);
  for (let rtt = 0; rtt <= 200; rtt++) {
    for (const at of [0, rtt / 3, rtt / 2, rtt]) {
      assert.equal(clockOffset(5_000, 5_000 + at, 5_000 + rtt), 0, `rtt ${rtt}, read at +${at}`);
    }
  }
});

Deno.test("clockOffset: a skew larger than the round trip is measured", () => {
  assert.equal(clockOffset(0, 5_001, 2), 5_000);
  assert.equal(clockOffset(10_000, 10_000 - 3_600_000, 10_004), -3_600_002);
  // A server reading outside [before, after + 1 ms] cannot share this machine's clock.
  assert.equal(clockOffset(0, 11, 10), 0);
  assert.equal(clockOffset(0, 11.5, 10), 7);
  assert.equal(clockOffset(0, -3, 10), -8);
});
