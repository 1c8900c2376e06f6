/**
 * `compact`: compacts every log of the local adapter's state directory now
 * (writers do it by themselves once a log has grown past four times its
 * live keys; this is for before a backup, or after a burst of short-lived
 * claims). Safe while servers run: each scope is compacted under its lock.
 * Records `admin:compact`. Exit 1 when a log could not be compacted, or the
 * storage is not the local adapter (Redis and PostgreSQL keep no logs).
 */
import { recordAdmin } from "../core/admin.ts";
import { isFileAdapter } from "../storage/file/adapter.ts";
import { openAdmin } from "./_admin.ts";
import { noArguments } from "./_flags.ts";
import { bytes } from "./_format.ts";
import { type CliInput, CommandFailure, EXIT, log, printJson } from "./_shared.ts";
import { table } from "./_table.ts";

/** Runs compact. */
export async function compactCommand(input: CliInput): Promise<number> {
  noArguments("compact", input.args);
  const admin = await openAdmin(input);
  try {
    const { storage } = admin.ctx;
    if (!isFileAdapter(storage)) {
      throw new CommandFailure(
        `compact works on the local adapter's logs; this project's storage is ${storage.name}, which keeps none (nothing was done).`,
      );
    }
    const report = await storage.compactAll();
    const before = report.compacted.reduce((n, c) => n + c.bytes_before, 0);
    const after = report.compacted.reduce((n, c) => n + c.bytes_after, 0);
    recordAdmin(admin.ctx, "compact", { machine: admin.setup.machine, pid: Deno.pid }, {
      outcome: report.failed.length === 0 ? "ok" : "CORRUPT_STATE",
      detail: `${report.compacted.length} logs compacted (${before} → ${after} bytes), ` +
        `${report.unchanged} already compact, ${report.failed.length} failed`,
    });
    if (input.flags.json) {
      printJson({
        state_dir: storage.basePath,
        ...report,
        bytes_before: before,
        bytes_after: after,
      });
    } else {
      if (report.compacted.length > 0) {
        console.log(table(
          [
            { header: "SCOPE" },
            { header: "BEFORE", align: "right" },
            { header: "AFTER", align: "right" },
          ],
          report.compacted.map((c) => [c.scope, bytes(c.bytes_before), bytes(c.bytes_after)]),
        ));
      }
      console.log(
        `${report.compacted.length} log${report.compacted.length === 1 ? "" : "s"} compacted ` +
          `(${bytes(before)} → ${
            bytes(after)
          }), ${report.unchanged} already compact, in ${storage.basePath}`,
      );
    }
    for (const f of report.failed) log(`compact: ${f.file}: ${f.error}`);
    return report.failed.length === 0 ? EXIT.ok : EXIT.failed;
  } finally {
    await admin.close();
  }
}
