/**
 * `status`: the project at a glance. Live sessions (where they work, what
 * they are on, when last seen, how much lease is left, unread mail), tasks
 * by status, reservations, and the health of the storage and the leases.
 * Reads only; writes nothing. Exit 1 when the storage cannot be read.
 */
import { type InstanceOverview, type Overview, readOverview } from "../core/admin.ts";
import { isCoordinatorError } from "../core/errors.ts";
import { openAdmin } from "./_admin.ts";
import { countsLine, currentTask, leaseLeft } from "./_describe.ts";
import { noArguments } from "./_flags.ts";
import { ago, duration, millis } from "./_format.ts";
import { type CliInput, EXIT, printJson } from "./_shared.ts";
import { cell, table } from "./_table.ts";

/** Runs status. */
export async function statusCommand(input: CliInput): Promise<number> {
  noArguments("status", input.args);
  const admin = await openAdmin(input);
  try {
    let overview: Overview;
    try {
      overview = await readOverview(admin.ctx);
    } catch (err) {
      if (!isCoordinatorError(err, "STORAGE_UNAVAILABLE")) throw err;
      const storage = { adapter: admin.ctx.storage.name, reachable: false, error: err.message };
      if (input.flags.json) {
        printJson({ project: admin.setup.project, machine: admin.setup.machine, storage });
      } else {
        console.log(`${admin.setup.project} on ${admin.setup.machine}`);
        console.log(`storage  ${storage.adapter}, UNREACHABLE: ${cell(storage.error)}`);
      }
      return EXIT.failed;
    }
    if (input.flags.json) {
      const { instances: _all, project, machine, at, storage, ...rest } = overview;
      printJson({ project, machine, at, storage, sessions: active(overview), ...rest });
    } else {
      console.log(renderStatus(overview, admin.ctx.storage.now()));
    }
    return EXIT.ok;
  } finally {
    await admin.close();
  }
}

function active(overview: Overview): InstanceOverview[] {
  return overview.instances.filter((i) => i.status === "active");
}

/** The status as text. */
export function renderStatus(o: Overview, nowMs: number): string {
  const sessions = active(o);
  const late = sessions.filter((s) => s.renewal_late);
  const lines = [
    `${cell(o.project)} on ${cell(o.machine)} at ${o.at}`,
    `storage  ${o.storage.adapter}, reachable, round trip ${millis(o.storage.round_trip_ms)}`,
    `leases   ${sessions.length} live; ${
      late.length === 0
        ? "renewals on time"
        : `renewals LATE: ${
          late.map((s) =>
            `${s.session_id} (${duration(s.lease_left_ms ?? 0)} of ${s.lease_ttl_seconds}s left)`
          ).join(", ")
        }`
    }`,
    `tasks    ${countsLine(o.tasks)}`,
    `unread   ${o.unread_messages} message${o.unread_messages === 1 ? "" : "s"}`,
    "",
  ];
  if (sessions.length === 0) {
    lines.push("No live sessions.");
  } else {
    lines.push(table(
      [
        { header: "SESSION" },
        { header: "MACHINE" },
        { header: "PID", align: "right" },
        { header: "WORKTREE" },
        { header: "BRANCH" },
        { header: "CURRENT TASK", max: 40 },
        { header: "LAST SEEN" },
        { header: "LEASE LEFT" },
        { header: "UNREAD", align: "right" },
      ],
      sessions.map((s) => [
        s.session_id,
        s.machine,
        s.pid,
        s.worktree,
        s.branch,
        currentTask(s),
        ago(s.last_seen, nowMs),
        leaseLeft(s),
        s.unread_messages,
      ]),
    ));
  }
  lines.push("");
  if (o.reservations.length === 0) {
    lines.push("No reservations.");
  } else {
    lines.push(table(
      [
        { header: "RESERVED PATH" },
        { header: "SESSION" },
        { header: "EXCLUSIVE" },
        { header: "REASON", max: 40 },
        { header: "UNTIL" },
      ],
      o.reservations.map((r) => [
        r.path,
        r.session_id,
        r.exclusive ? "yes" : "no",
        r.reason,
        r.until === null ? "released" : ago(r.until, nowMs),
      ]),
    ));
  }
  return lines.join("\n");
}
