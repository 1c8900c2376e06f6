/** Short phrases for the admin commands' tables: what a session is on, its lease, task counts. */
import type { InstanceOverview } from "../core/admin.ts";
import type { TaskCounts } from "../core/board/tasks.ts";
import { duration } from "./_format.ts";

/** "3 ready, 1 blocked, 2 in progress, 10 done, 0 failed". */
export function countsLine(counts: TaskCounts): string {
  return `${counts.ready} ready, ${counts.blocked} blocked, ${counts.in_progress} in progress, ` +
    `${counts.done} done, ${counts.failed} failed`;
}

/** The task a session holds (and how many more), else what its own scope says it is on. */
export function currentTask(s: InstanceOverview): string | null {
  if (s.tasks.length > 0) {
    const more = s.tasks.length > 1 ? ` (+${s.tasks.length - 1})` : "";
    return `${s.tasks[0].task_id} ${s.tasks[0].title}${more}`;
  }
  if (s.unreadable) return "(its scope is unreadable)";
  if (s.current_issue === null) return null;
  return typeof s.current_issue === "string" ? s.current_issue : JSON.stringify(s.current_issue);
}

/** The lease left of a live session ("57s", "12s LATE"); null for a free instance. */
export function leaseLeft(s: InstanceOverview): string | null {
  if (s.status !== "active") return null;
  return `${duration(s.lease_left_ms ?? 0)}${s.renewal_late ? " LATE" : ""}`;
}
