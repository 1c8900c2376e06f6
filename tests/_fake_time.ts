/**
 * Fake time for lease tests: one clock that storage, sessions and the
 * heartbeat all read, and a scheduler whose jobs run when the test moves the
 * clock, so no test sleeps for a lease to expire.
 */
import type { Scheduler } from "../src/core/context.ts";

/** A clock the test moves by hand, with the scheduler that follows it. */
export interface FakeTime {
  now: () => number;
  scheduler: Scheduler;
  /**
   * Moves the clock forward by `ms`, running every scheduled job that falls
   * due on the way (at its due time) and letting the work it starts settle.
   */
  advance(ms: number): Promise<void>;
  /** Moves the clock without running scheduled jobs (for spacing events apart). */
  skip(ms: number): void;
}

/** Lets pending promise chains and zero timers run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

/** Creates fake time starting at `start` (epoch ms). */
export function fakeTime(start = Date.parse("2026-06-01T12:00:00.000Z")): FakeTime {
  let now = start;
  const jobs = new Set<{ ms: number; next: number; job: () => void }>();
  return {
    now: () => now,
    scheduler: {
      every(ms, job) {
        const entry = { ms, next: now + ms, job };
        jobs.add(entry);
        return () => jobs.delete(entry);
      },
    },
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        let due: { ms: number; next: number; job: () => void } | null = null;
        for (const j of jobs) if (j.next <= end && (due === null || j.next < due.next)) due = j;
        if (due === null) break;
        now = due.next;
        due.next += due.ms;
        due.job();
        await settle();
      }
      now = end;
      await settle();
    },
    skip(ms) {
      now += ms;
    },
  };
}
