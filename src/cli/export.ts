/** `export --to FILE.json`: write every scope and key of the storage to a backup file. */
import { exportAll } from "../storage/migrate.ts";
import { type CliInput, EXIT, openStorage, UsageError } from "./_shared.ts";

/** Runs export. */
export async function exportCommand({ flags, args, options }: CliInput): Promise<number> {
  if (!flags.to || args.length > 0) throw new UsageError("export needs --to FILE.json");
  const source = await openStorage(options, options.configPath);
  try {
    const backup = await exportAll(source);
    await Deno.writeTextFile(flags.to, JSON.stringify(backup, null, 2) + "\n");
    const keys = Object.values(backup.scopes).reduce((n, s) => n + Object.keys(s).length, 0);
    console.log(
      `exported ${Object.keys(backup.scopes).length} scopes, ${keys} keys to ${flags.to}`,
    );
  } finally {
    await source.close();
  }
  return EXIT.ok;
}
