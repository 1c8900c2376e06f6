/** The records and bindings of sessions: what is stored, what is held, what is returned. */
import type { ServerContext } from "../context.ts";

/** Where a session works: its worktree path, branch and HEAD commit. */
export interface WorkTreeInfo {
  path: string;
  branch: string | null;
  head: string | null;
}

/** What every session of one server shares (see ../context.ts). */
export type SessionContext = ServerContext;

/** Who stands behind a binding: recorded in its leases so a person can find the holder. */
export interface Holder {
  /** The process serving the session. */
  pid: number;
  /** The MCP client's name and version, once it said (initialize); null before. */
  client: string | null;
}

/** The instance a binding holds, as last written. */
export interface HeldInstance {
  sessionId: string;
  /**
   * The grant: a random id minted when this binding claimed the instance.
   * It never repeats, and every write as this instance is fenced on it
   * (the lease must still carry it), so a session that lost its instance
   * can never act as it again.
   */
  grantId: string;
  lease: LeaseRecord;
}

/** Who is calling: one per stdio process or per HTTP client. */
export interface SessionBinding {
  held: HeldInstance | null;
  /** Why the last lease was lost, shown by NOT_SIGNED_ON until the next sign_on. */
  lostReason: string | null;
  /**
   * sign_on and sign_off of one binding run one at a time: a client may send
   * two at once, and interleaved claims would leave an instance held that the
   * binding no longer knows about.
   */
  turn: Promise<unknown>;
  holder: Holder;
  /** Reads where this session works; called at sign_on and sign_off only, never per renewal. */
  workTree: () => Promise<WorkTreeInfo>;
}

/** The lease record stored for a held instance. */
export interface LeaseRecord {
  session_id: string;
  /** The grant this lease belongs to (see HeldInstance.grantId). */
  grant_id: string;
  machine: string;
  pid: number;
  /** The MCP client, e.g. "claude-code 2.1.80", when it said. */
  client: string | null;
  worktree: string;
  branch: string | null;
  since: string;
  last_seen: string;
  lease_expires_at: string;
}

/** A handoff left by sign_off for the next session of the same instance. */
export interface Handoff {
  session_id: string;
  machine: string;
  summary: string | null;
  next_steps: string[];
  signed_off_at: string;
  worktree: string;
  branch: string | null;
  commit: string | null;
  /** When a session first signed on and received this handoff; absent until then. */
  received_at?: string;
  /** The process that received it, to tell a crashed receiver from a live one. */
  received_by_pid?: number;
  /**
   * Set when an admin ended the session (the `release` command) instead of
   * it signing off: when, by whom, why, and the grant that was ended (so
   * that session, at its next act, learns it was released, not timed out).
   */
  released?: { at: string; by: string; reason: string; grant_id: string };
}

/** A live session as others see it. */
export interface ActiveSession {
  session_id: string;
  machine: string;
  since: string;
  last_seen: string;
  lease_expires_at: string;
  worktree: string;
  branch: string | null;
}

/** What sign_on returns. */
export interface SignOnResult {
  machine: string;
  project: string;
  session_id: string;
  full_scope_prefix: string;
  lease_expires_at: string;
  /** "claimed" for a new claim, "renewed" when this binding already held it. */
  claim: "claimed" | "renewed";
  handoff: Handoff | null;
  active_sessions: ActiveSession[];
}

/** Scope (relative) of the project-wide leases. */
export const INSTANCES_SCOPE = "@project:instances";
/** Scope (relative) of the project-wide handoffs. */
export const HANDOFFS_SCOPE = "@project:handoffs";
