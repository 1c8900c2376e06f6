/**
 * claude-session-coordinator: the command line. Parses flags and hands them
 * to a subcommand in src/cli/; serving MCP over stdio is the default.
 *
 * @module
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { type CliInput, EXIT, reportError, UsageError } from "./src/cli/_shared.ts";
import { compactCommand } from "./src/cli/compact.ts";
import { dashboardCommand } from "./src/cli/dashboard.ts";
import { doctorCommand } from "./src/cli/doctor.ts";
import { exportCommand } from "./src/cli/export.ts";
import { helpText } from "./src/cli/help.ts";
import { guardCommand } from "./src/cli/guard.ts";
import { importCommand } from "./src/cli/import.ts";
import { logCommand } from "./src/cli/log.ts";
import { migrateCommand } from "./src/cli/migrate.ts";
import { releaseCommand } from "./src/cli/release.ts";
import { serve } from "./src/cli/serve.ts";
import { sessionsCommand } from "./src/cli/sessions.ts";
import { statusCommand } from "./src/cli/status.ts";
import { tasksCommand } from "./src/cli/tasks.ts";
import { validateConfig } from "./src/cli/validate_config.ts";
import { PACKAGE_NAME, VERSION } from "./src/setup/version.ts";
import { builtinRegistry } from "./src/storage/builtin.ts";

/** The subcommands, by name. */
const COMMANDS: Record<string, (input: CliInput) => Promise<number>> = {
  migrate: migrateCommand,
  export: exportCommand,
  import: importCommand,
  guard: guardCommand,
  status: statusCommand,
  sessions: sessionsCommand,
  tasks: tasksCommand,
  log: logCommand,
  release: releaseCommand,
  doctor: doctorCommand,
  compact: compactCommand,
  dashboard: dashboardCommand,
};

/** Runs the command line with the given arguments; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let flags, positionals: string[];
  try {
    ({ values: flags, positionals } = parseArgs({
      args,
      options: {
        config: { type: "string" },
        project: { type: "string" },
        from: { type: "string" },
        to: { type: "string" },
        overwrite: { type: "boolean" },
        install: { type: "boolean" },
        "validate-config": { type: "boolean" },
        json: { type: "boolean" },
        yes: { type: "boolean" },
        reason: { type: "string" },
        follow: { type: "boolean" },
        session: { type: "string" },
        kind: { type: "string" },
        since: { type: "string" },
        limit: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        token: { type: "string" },
        "project-id": { type: "string" },
        "min-free-mb": { type: "string" },
        verbose: { type: "boolean" },
        version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    console.error(`error: ${(err as Error).message}\nRun with --help to see every flag.`);
    return EXIT.usage;
  }
  if (flags.help) {
    console.log(helpText());
    return EXIT.ok;
  }
  if (flags.version) {
    console.log(`${PACKAGE_NAME} ${VERSION}`);
    return EXIT.ok;
  }
  const verbose = flags.verbose ?? false;
  try {
    let cwd = Deno.cwd();
    if (flags.project !== undefined) {
      cwd = resolve(flags.project);
      const info = await Deno.stat(cwd).catch(() => null);
      if (!info?.isDirectory) throw new UsageError(`--project ${cwd} is not a directory`);
    }
    const [command, ...rest] = positionals;
    const input: CliInput = {
      flags,
      args: rest,
      options: {
        // A relative --config names a file where the command was run, not in --project.
        configPath: flags.config === undefined || flags.config === ""
          ? flags.config
          : resolve(flags.config),
        cwd,
        env: (name) => Deno.env.get(name),
        homeDir: Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? null,
        registry: builtinRegistry(),
      },
    };
    if (command === undefined) {
      return await (flags["validate-config"] ? validateConfig(input) : serve(input));
    }
    const run = COMMANDS[command];
    if (run === undefined) {
      throw new UsageError(
        `unknown command ${JSON.stringify(command)}; the commands are ${
          Object.keys(COMMANDS).join(", ")
        }`,
      );
    }
    return await run(input);
  } catch (err) {
    return reportError(err, verbose);
  }
}

if (import.meta.main) {
  // Pending timers or sockets must not keep a finished command alive.
  Deno.exit(await main(Deno.args));
}
