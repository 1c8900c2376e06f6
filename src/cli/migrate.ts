/** `migrate --from CONFIG --to CONFIG`: copy every scope and key from one storage to another. */
import { CoordinatorError } from "../core/errors.ts";
import { type CopyReport, migrate } from "../storage/migrate.ts";
import { type CliInput, EXIT, openStorage, UsageError } from "./_shared.ts";

/** Prints a copy's counts; CORRUPT_STATE when a key did not read back as written. */
export function printReport(what: string, report: CopyReport): void {
  console.log(
    `${what}: ${report.scopes} scopes, ${report.keys} keys copied, ${report.verified} verified` +
      (report.unchanged ? `, ${report.unchanged} already there` : "") +
      (report.skipped_expired ? `, ${report.skipped_expired} skipped (expired)` : ""),
  );
  if (report.mismatched.length > 0) {
    throw new CoordinatorError(
      "CORRUPT_STATE",
      `verification failed for ${report.mismatched.length} keys: ${
        report.mismatched.slice(0, 10).join(", ")
      }`,
    );
  }
}

/** Runs migrate. */
export async function migrateCommand({ flags, args, options }: CliInput): Promise<number> {
  if (!flags.from || !flags.to || args.length > 0) {
    throw new UsageError("migrate needs --from CONFIG and --to CONFIG");
  }
  const source = await openStorage(options, flags.from);
  try {
    const target = await openStorage(options, flags.to);
    try {
      printReport("migrated", await migrate(source, target, { overwrite: flags.overwrite }));
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
  return EXIT.ok;
}
