/**
 * What every session of one server process shares: the storage, who and
 * where we are, the lease settings, and a scheduler for repeating work.
 * Per-session facts (process, client, worktree) live in the binding
 * (session/types.ts), never here, so one process can serve many sessions.
 *
 * @module
 */
import type { StorageAdapter } from "../storage/contract.ts";
import type { AuditSink } from "./audit.ts";
import type { ChangeHub } from "./live/hub.ts";
import type { ProjectIdentity } from "./scope_names.ts";

/** Starts repeating jobs; injectable, so lease tests need no real sleeps. */
export interface Scheduler {
  /** Runs `job` every `ms` until the returned function is called. */
  every(ms: number, job: () => void): () => void;
}

/** What every session of one server shares. */
export interface ServerContext {
  storage: StorageAdapter;
  identity: ProjectIdentity;
  leaseTtlSeconds: number;
  /** Cap on auto-numbered instances; undefined means the pool grows as needed. */
  maxInstances?: number;
  scheduler: Scheduler;
  /** Where state changes are recorded (audit.ts); none when absent. */
  audit?: AuditSink;
  /** What changed in the storage, for live updates (live/hub.ts); none when absent. */
  changes?: ChangeHub;
}

/** The real scheduler: unref'd intervals, so a heartbeat alone never keeps a process alive. */
export const realScheduler: Scheduler = {
  every(ms, job) {
    const timer = setInterval(job, ms);
    Deno.unrefTimer(timer);
    return () => clearInterval(timer);
  },
};
