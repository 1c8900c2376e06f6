/** The default command: serve MCP over stdio for the project around the working directory. */
import { openContext, resolveSetup } from "../setup/runtime.ts";
import { readWorkTree } from "../setup/git.ts";
import { VERSION } from "../setup/version.ts";
import { serveStdio } from "../transport/stdio.ts";
import { type CliInput, EXIT, log } from "./_shared.ts";

/** Serves until the client leaves or a signal arrives; the storage is closed last. */
export async function serve({ options }: CliInput): Promise<number> {
  const setup = await resolveSetup(options);
  const ctx = await openContext(setup, { ...options, log });
  try {
    await serveStdio(ctx, { version: VERSION, log, workTree: () => readWorkTree(options.cwd) });
  } finally {
    await ctx.audit?.flush();
    await ctx.storage.close();
  }
  return EXIT.ok;
}
