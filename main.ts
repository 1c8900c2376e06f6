/**
 * claude-session-coordinator: the command line. Parses flags, loads the
 * config, and serves MCP over stdio. Everything else lives in src/.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { describeConfigKeys } from "./src/config.ts";
import { CoordinatorError, describeError, ERROR_HINTS } from "./src/errors.ts";
import { serveStdio } from "./src/mcp/stdio.ts";
import { openContext, resolveSetup, type RuntimeOptions } from "./src/runtime.ts";
import { builtinRegistry } from "./src/storage/adapters.ts";
import { PACKAGE_NAME, VERSION } from "./src/version.ts";

const HELP = `${PACKAGE_NAME} ${VERSION}
An MCP server that lets several AI coding sessions on one project coordinate.

Usage:
  ${PACKAGE_NAME} [--config PATH]            serve MCP over stdio (what MCP clients run)
  ${PACKAGE_NAME} --validate-config [--config PATH]
  ${PACKAGE_NAME} --version | --help

Flags:
  --config PATH        read this config file (else $CLAUDE_SESSION_COORDINATOR_CONFIG,
                       <project>/.claude/session-coordinator-config.json,
                       ~/.config/claude-session-coordinator/config.json, built-in defaults)
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
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        config: { type: "string" },
        "validate-config": { type: "boolean" },
        verbose: { type: "boolean" },
        version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
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
  const options: RuntimeOptions = {
    configPath: flags.config,
    cwd: Deno.cwd(),
    env: (name) => Deno.env.get(name),
    homeDir: Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? null,
    registry,
  };
  try {
    const setup = await resolveSetup(options);
    if (flags["validate-config"]) {
      const ctx = await openContext(setup, options);
      await ctx.storage.close();
      console.log(JSON.stringify(
        {
          valid: true,
          source: setup.loaded.source ?? "built-in defaults",
          machine: setup.machine,
          project: setup.project,
          project_source: setup.projectSource,
          project_root: setup.projectRoot,
          config: setup.loaded.config,
        },
        null,
        2,
      ));
      return;
    }
    const ctx = await openContext(setup, options);
    await serveStdio(ctx, { version: VERSION, log });
  } catch (err) {
    fail(err, verbose);
  }
}

if (import.meta.main) {
  await main(Deno.args);
  // Pending timers or sockets must not keep a finished server alive.
  Deno.exit(0);
}
