/** What every subcommand shares: its inputs, error printing, and opening the storage. */
import { CoordinatorError, describeError, ERROR_HINTS } from "../core/errors.ts";
import { redactSecrets, redactText } from "../core/redact.ts";
import { openContext, resolveSetup, type RuntimeOptions } from "../setup/runtime.ts";
import type { StorageAdapter } from "../storage/contract.ts";
import { PACKAGE_NAME } from "../setup/version.ts";

/** The parsed command line, as main.ts hands it to a subcommand. */
export interface CliFlags {
  config?: string;
  project?: string;
  from?: string;
  to?: string;
  overwrite?: boolean;
  install?: boolean;
  verbose?: boolean;
  /** Admin commands: print one JSON document on stdout instead of tables. */
  json?: boolean;
  /** release: do not ask for confirmation. */
  yes?: boolean;
  /** release: why; goes into the audit log and the handoff. */
  reason?: string;
  /** log: keep printing new events as they are appended. */
  follow?: boolean;
  /** log: only this instance's events. */
  session?: string;
  /** log: only this kind ("store_data"), or a prefix ending in "*" ("admin:*"). */
  kind?: string;
  /** log: only events since this ISO time or duration ("10m", "2h", "1d"). */
  since?: string;
  /** log, tasks: at most this many rows (the newest log events). */
  limit?: string;
  /** dashboard: the address to bind to. */
  host?: string;
  /** dashboard: the port. */
  port?: string;
  /** dashboard: the token it requires. */
  token?: string;
  /** Admin commands: the project id to look at in a shared store, instead of the detected one. */
  "project-id"?: string;
  /** doctor: the least free space (MiB) the state directory's file system may have. */
  "min-free-mb"?: string;
}

/** What a subcommand runs with. */
export interface CliInput {
  flags: CliFlags;
  /** Positional arguments after the subcommand's name. */
  args: string[];
  options: RuntimeOptions;
}

/** Exit codes scripts can trust. */
export const EXIT = {
  ok: 0,
  /** The command ran and failed: an error line on stderr says why. */
  failed: 1,
  /** The command line itself is wrong (unknown flag, missing argument). */
  usage: 2,
} as const;

/** A log line on stderr, credentials hidden. */
export function log(line: string): void {
  console.error(`[${PACKAGE_NAME}] ${redactText(line)}`);
}

/** Prints an error (`error: CODE: message` and what to do) and returns the exit code. */
export function reportError(err: unknown, verbose: boolean): number {
  if (err instanceof CoordinatorError) {
    console.error(redactText(`error: ${err.code}: ${err.message}\n  ${ERROR_HINTS[err.code]}`));
  } else {
    console.error(redactText(`error: ${err instanceof Error ? err.message : String(err)}`));
  }
  if (verbose) console.error(describeError(err));
  return err instanceof UsageError ? EXIT.usage : EXIT.failed;
}

/**
 * The command ran and refused or found a failure (release of an instance
 * nobody holds, compact on a store without logs): exit code 1, and the
 * message as the error line.
 */
export class CommandFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommandFailure";
  }
}

/** Prints `value` as the one JSON document of stdout (--json), credentials in URLs hidden. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(redactSecrets(value), null, 2));
}

/** A mistake in the command line: exit code 2. */
export class UsageError extends CoordinatorError {
  constructor(message: string) {
    super("INVALID_ARGUMENT", `${message} (see --help)`);
  }
}

/** Opens the storage a config file (or the usual sources) selects. */
export async function openStorage(
  options: RuntimeOptions,
  configPath: string | undefined,
): Promise<StorageAdapter> {
  const setup = await resolveSetup({ ...options, configPath });
  return (await openContext(setup, { ...options, log })).storage;
}
