/**
 * `sessions`: every instance of the project: the live ones (who holds each,
 * since when, how much lease is left) and the free ones that left a
 * handoff for their next holder. Reads only.
 */
import { readOverview } from "../core/admin.ts";
import { openAdmin } from "./_admin.ts";
import { noArguments } from "./_flags.ts";
import { currentTask, leaseLeft } from "./_describe.ts";
import { ago } from "./_format.ts";
import { type CliInput, EXIT, printJson } from "./_shared.ts";
import { table } from "./_table.ts";

/** Runs sessions. */
export async function sessionsCommand(input: CliInput): Promise<number> {
  noArguments("sessions", input.args);
  const admin = await openAdmin(input);
  try {
    const o = await readOverview(admin.ctx);
    if (input.flags.json) {
      printJson({ project: o.project, machine: o.machine, at: o.at, sessions: o.instances });
      return EXIT.ok;
    }
    if (o.instances.length === 0) {
      console.log(`No sessions in ${o.project} yet: no live lease, no handoff.`);
      return EXIT.ok;
    }
    const nowMs = admin.ctx.storage.now();
    console.log(table(
      [
        { header: "SESSION" },
        { header: "STATUS" },
        { header: "MACHINE" },
        { header: "PID", align: "right" },
        { header: "CLIENT", max: 24 },
        { header: "WORKTREE" },
        { header: "BRANCH" },
        { header: "SINCE" },
        { header: "LAST SEEN" },
        { header: "LEASE LEFT" },
        { header: "UNREAD", align: "right" },
        { header: "WORKING ON / HANDOFF", max: 50 },
      ],
      o.instances.map((s) => [
        s.session_id,
        s.status,
        s.machine,
        s.pid,
        s.client,
        s.worktree,
        s.branch,
        ago(s.since, nowMs),
        ago(s.last_seen, nowMs),
        leaseLeft(s),
        s.unread_messages,
        s.status === "active" ? currentTask(s) : handoffLine(s.handoff),
      ]),
    ));
    return EXIT.ok;
  } finally {
    await admin.close();
  }
}

function handoffLine(
  h: { signed_off_at: string; summary: string | null; received_at: string | null } | null,
): string | null {
  if (h === null) return null;
  return `${h.received_at ? "received" : "waiting"}: ${h.summary ?? "(no summary)"}`;
}
