/**
 * Opening the project for an admin command: the same config, trust rules
 * and storage as the server, no session. `--project-id` picks another
 * project sharing the store (a Redis used by several repositories).
 */
import type { ServerContext } from "../core/context.ts";
import { openContext, type ResolvedSetup, resolveSetup } from "../setup/runtime.ts";
import { parseProjectId } from "./_flags.ts";
import { type CliInput, log } from "./_shared.ts";

/** An open project for an admin command; close() when done. */
export interface AdminContext {
  ctx: ServerContext;
  setup: ResolvedSetup;
  /** Waits for audit events still being written, then closes the storage. */
  close(): Promise<void>;
}

/**
 * Resolves the setup and opens the storage. Adapter log lines (an outage,
 * a clock offset) go to `sink`, stderr by default.
 */
export async function openAdmin(
  input: CliInput,
  sink: (line: string) => void = log,
): Promise<AdminContext> {
  const projectId = parseProjectId(input.flags["project-id"]);
  const resolved = await resolveSetup(input.options);
  for (const warning of resolved.warnings) sink(`warning: ${warning}`);
  const setup = projectId === undefined ? resolved : { ...resolved, project: projectId };
  const ctx = await openContext(setup, { ...input.options, log: sink });
  return {
    ctx,
    setup,
    async close() {
      try {
        await ctx.audit?.flush();
      } finally {
        await ctx.storage.close();
      }
    },
  };
}
