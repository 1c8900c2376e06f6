/**
 * claude-session-coordinator: the command line. Parses flags, loads the
 * config, and serves MCP over stdio. Everything else lives in src/.
 *
 * @module
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { describeConfigKeys } from "./src/setup/config.ts";
import { CoordinatorError, describeError, ERROR_HINTS } from "./src/core/errors.ts";
import { serveStdio } from "./src/transport/stdio.ts";
import {
  type CopyReport,
  exportAll,
  importAll,
  migrate,
  parseBackup,
} from "./src/storage/migrate.ts";
import { openContext, resolveSetup, type RuntimeOptions } from "./src/setup/runtime.ts";
import { redactSecrets } from "./src/core/redact.ts";
import { builtinRegistry } from "./src/storage/builtin.ts";
import { PACKAGE_NAME, VERSION } from "./src/setup/version.ts";

const HELP = `${PACKAGE_NAME} ${VERSION}
An MCP server that lets several AI coding sessions on one project coordinate.

Usage:
  ${PACKAGE_NAME} [--config PATH]            serve MCP over stdio (what MCP clients run)
  ${PACKAGE_NAME} --validate-config [--config PATH]
  ${PACKAGE_NAME} migrate --from CONFIG --to CONFIG
                                   copy every scope and key (value, version, remaining TTL)
                                   from one storage to another; idempotent; verifies counts
  ${PACKAGE_NAME} export --to FILE.json [--config PATH]
                                   write every scope and key of the storage to a backup file
  ${PACKAGE_NAME} import FILE.json [--config PATH]
                                   restore a backup file into the storage
  ${PACKAGE_NAME} --version | --help

Flags:
  --config PATH        read this config file (else $CLAUDE_SESSION_COORDINATOR_CONFIG,
                       <project>/.claude/session-coordinator-config.json,
                       ~/.config/claude-session-coordinator/config.json, built-in defaults)
  --project DIR        serve the project in DIR (default: the current directory); for
                       clients that cannot set a working directory
  --validate-config    print the merged config and the file it came from; exit 0 when
                       valid, 1 with the field errors when not
  --verbose            log causes of errors to stderr
  --version            print the version
  --help               print this help

stdout carries JSON-RPC only; logs go to stderr.

Config keys:
${
  describeConfigKeys().map((k) => `  ${k.key.padEnd(28)} ${k.default.padEnd(24)} ${k.description}`)
    .join("\n")
}
`;

function log(line: string): void {
  console.error(`[${PACKAGE_NAME}] ${line}`);
}

function fail(err: unknown, verbose: boolean): never {
  if (err instanceof CoordinatorError) {
    console.error(`error: ${err.code}: ${err.message}\n  ${ERROR_HINTS[err.code]}`);
  } else {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (verbose) console.error(describeError(err));
  Deno.exit(1);
}

/** Runs the command line with the given arguments. */
export async function main(args: string[]): Promise<void> {
  let flags, positionals: string[];
  try {
    ({ values: flags, positionals } = parseArgs({
      args,
      options: {
        config: { type: "string" },
        project: { type: "string" },
        from: { type: "string" },
        to: { type: "string" },
        "validate-config": { type: "boolean" },
        verbose: { type: "boolean" },
        version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    console.error(`error: ${(err as Error).message}\nRun with --help to see every flag.`);
    Deno.exit(2);
  }
  if (flags.help) {
    console.log(HELP);
    return;
  }
  if (flags.version) {
    console.log(`${PACKAGE_NAME} ${VERSION}`);
    return;
  }
  const verbose = flags.verbose ?? false;
  const registry = builtinRegistry();
  let cwd = Deno.cwd();
  if (flags.project !== undefined) {
    cwd = resolve(flags.project);
    const info = await Deno.stat(cwd).catch(() => null);
    if (!info?.isDirectory) {
      fail(
        new CoordinatorError("INVALID_ARGUMENT", `--project ${cwd} is not a directory.`),
        verbose,
      );
    }
  }
  const options: RuntimeOptions = {
    // A relative --config names a file where the command was run, not in --project.
    configPath: flags.config === undefined || flags.config === ""
      ? flags.config
      : resolve(flags.config),
    cwd,
    env: (name) => Deno.env.get(name),
    homeDir: Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? null,
    registry,
  };
  try {
    const [command, ...rest] = positionals;
    if (command !== undefined) {
      await runCommand(command, rest, flags, options);
      return;
    }
    const setup = await resolveSetup(options);
    if (flags["validate-config"]) {
      // Opening the storage checks the adapter's own config; a probe read
      // tells whether the backend answers, which is worth knowing but does
      // not make the config invalid.
      const ctx = await openContext(setup, options);
      let storage = "reachable";
      try {
        await ctx.storage.listKeys(`${setup.machine}:${setup.project}:session:probe`);
      } catch (err) {
        storage = `unreachable: ${err instanceof Error ? err.message : String(err)}`;
        log(`warning: the config is valid, but the storage is ${storage}`);
      }
      await ctx.storage.close();
      console.log(JSON.stringify(
        {
          valid: true,
          storage,
          source: setup.loaded.source ?? "built-in defaults",
          machine: setup.machine,
          project: setup.project,
          project_source: setup.projectSource,
          project_root: setup.projectRoot,
          config: redactSecrets(setup.loaded.config),
        },
        null,
        2,
      ));
      return;
    }
    const ctx = await openContext(setup, { ...options, log });
    await serveStdio(ctx, { version: VERSION, log });
  } catch (err) {
    fail(err, verbose);
  }
}

/** The maintenance subcommands: migrate, export, import. */
async function runCommand(
  command: string,
  rest: string[],
  flags: { from?: string; to?: string },
  options: RuntimeOptions,
): Promise<void> {
  const usage = (msg: string) => new CoordinatorError("INVALID_ARGUMENT", `${msg} (see --help)`);
  const open = async (configPath?: string) =>
    (await openContext(await resolveSetup({ ...options, configPath }), options)).storage;
  const printReport = (what: string, report: CopyReport) => {
    console.log(
      `${what}: ${report.scopes} scopes, ${report.keys} keys copied, ${report.verified} verified` +
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
  };
  if (command === "migrate") {
    if (!flags.from || !flags.to || rest.length > 0) {
      throw usage("migrate needs --from CONFIG and --to CONFIG");
    }
    const source = await open(flags.from);
    const target = await open(flags.to);
    try {
      printReport("migrated", await migrate(source, target));
    } finally {
      await source.close();
      await target.close();
    }
  } else if (command === "export") {
    if (!flags.to || rest.length > 0) throw usage("export needs --to FILE.json");
    const source = await open(options.configPath);
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
  } else if (command === "import") {
    if (rest.length !== 1) throw usage("import needs exactly one FILE.json");
    let raw: unknown;
    try {
      raw = JSON.parse(await Deno.readTextFile(rest[0]));
    } catch (err) {
      throw usage(`cannot read ${rest[0]}: ${(err as Error).message}`);
    }
    const backup = parseBackup(raw, rest[0]);
    const target = await open(options.configPath);
    try {
      printReport("imported", await importAll(target, backup));
    } finally {
      await target.close();
    }
  } else {
    throw usage(
      `unknown command ${JSON.stringify(command)}; the commands are migrate, export, import`,
    );
  }
}

if (import.meta.main) {
  await main(Deno.args);
  // Pending timers or sockets must not keep a finished server alive.
  Deno.exit(0);
}
