/**
 * `tasks [STATUS]`: the work board: every task with its derived status
 * (in progress, ready, blocked, failed, done, in that order), owner,
 * priority and what a blocked task waits for. Reads only.
 */
import { readBoard, type TaskStatus } from "../core/board/tasks.ts";
import { openAdmin } from "./_admin.ts";
import { countsLine } from "./_describe.ts";
import { parseCount } from "./_flags.ts";
import { ago } from "./_format.ts";
import { type CliInput, EXIT, printJson, UsageError } from "./_shared.ts";
import { table } from "./_table.ts";

const ORDER: Record<TaskStatus, number> = {
  in_progress: 0,
  ready: 1,
  blocked: 2,
  failed: 3,
  done: 4,
};

/** Runs tasks. */
export async function tasksCommand(input: CliInput): Promise<number> {
  const [wanted, ...extra] = input.args;
  if (extra.length > 0) throw new UsageError("tasks takes at most one argument, a status");
  if (wanted !== undefined && !(wanted in ORDER)) {
    throw new UsageError(
      `tasks ${JSON.stringify(wanted)}: the statuses are ${Object.keys(ORDER).join(", ")}`,
    );
  }
  const limit = parseCount("limit", input.flags.limit);
  const admin = await openAdmin(input);
  try {
    const { tasks, counts } = await readBoard(admin.ctx);
    const rows = tasks
      .filter((t) => wanted === undefined || t.status === wanted)
      .sort((a, b) => ORDER[a.status] - ORDER[b.status] || (a.rec.order < b.rec.order ? -1 : 1))
      .slice(0, limit)
      .map(({ rec, status, waiting_for }) => ({
        task_id: rec.task_id,
        title: rec.title,
        status,
        owner: status === "in_progress" ? rec.owner?.session_id ?? null : null,
        priority: rec.priority,
        labels: rec.labels,
        depends_on: rec.depends_on,
        waiting_for,
        attempts: rec.attempts,
        updated_at: rec.updated_at,
      }));
    if (input.flags.json) {
      printJson({ project: admin.setup.project, counts, tasks: rows });
      return EXIT.ok;
    }
    console.log(`${admin.setup.project}: ${countsLine(counts)}`);
    if (rows.length === 0) {
      if (wanted !== undefined) console.log(`No ${wanted} tasks.`);
      return EXIT.ok;
    }
    const nowMs = admin.ctx.storage.now();
    console.log();
    console.log(table(
      [
        { header: "TASK" },
        { header: "STATUS" },
        { header: "PRI", align: "right" },
        { header: "OWNER" },
        { header: "TRIES", align: "right" },
        { header: "UPDATED" },
        { header: "WAITING FOR", max: 30 },
        { header: "TITLE", max: 60 },
      ],
      rows.map((t) => [
        t.task_id,
        t.status,
        t.priority,
        t.owner,
        t.attempts,
        ago(t.updated_at, nowMs),
        t.waiting_for.length > 0 ? t.waiting_for.join(",") : null,
        t.title,
      ]),
    ));
    return EXIT.ok;
  } finally {
    await admin.close();
  }
}
