/** `import FILE.json`: restore a backup file into the storage. */
import { importAll, parseBackup, readBackupFile } from "../storage/migrate.ts";
import { type CliInput, EXIT, openStorage, UsageError } from "./_shared.ts";
import { printReport } from "./migrate.ts";

/** Runs import. */
export async function importCommand({ flags, args, options }: CliInput): Promise<number> {
  if (args.length !== 1) throw new UsageError("import needs exactly one FILE.json");
  const backup = parseBackup(await readBackupFile(args[0]), args[0]);
  const target = await openStorage(options, options.configPath);
  try {
    printReport("imported", await importAll(target, backup, { overwrite: flags.overwrite }));
  } finally {
    await target.close();
  }
  return EXIT.ok;
}
