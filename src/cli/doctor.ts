/**
 * `doctor`: checks what a project's sessions rely on, and says what to do
 * about each problem: the config is valid; the storage can be read and
 * written; the state directory's disk has room; no scope lock is held by a
 * stopped process; this machine's clock agrees with the storage server's;
 * the pre-commit guard is in effect in every worktree. Exit 0 when it
 * finds no problem (warnings allowed), 1 when it finds any.
 *
 * It writes one probe key (deleted at once) and records nothing in the
 * audit log.
 */
import { resolve } from "node:path";
import type { ServerContext } from "../core/context.ts";
import { ERROR_HINTS, isCoordinatorError } from "../core/errors.ts";
import { redactText } from "../core/redact.ts";
import { findProjectRoot } from "../setup/detect.ts";
import {
  openContext,
  type ResolvedSetup,
  resolveSetup,
  type RuntimeOptions,
} from "../setup/runtime.ts";
import { PACKAGE_NAME } from "../setup/version.ts";
import { DEFAULT_BASE_PATH } from "../storage/file/adapter.ts";
import { type CheckResult, finding } from "./_check.ts";
import { checkDisk, DEFAULT_MIN_FREE_BYTES } from "./_doctor_disk.ts";
import { checkGuard } from "./_doctor_guard.ts";
import { checkLocks, LOCK_HELD_MS } from "./_doctor_locks.ts";
import { checkClock, checkReadWrite, errorLine, openFailure } from "./_doctor_storage.ts";
import { noArguments, parseCount, parseProjectId } from "./_flags.ts";
import { type CliInput, EXIT, log, printJson } from "./_shared.ts";

/** What doctor runs with; the seams tests use are the clock and the lock wait. */
export interface DoctorOptions {
  runtime: RuntimeOptions;
  /** Check this project id's scopes instead of the detected one. */
  projectId?: string;
  /** The least free space accepted for the state directory (bytes). */
  minFreeBytes?: number;
  /** This machine's clock; Date.now by default. */
  localClock?: () => number;
  /** How long a lock must stay held to count as stuck (ms). */
  lockHeldMs?: number;
}

/** What doctor found. */
export interface DoctorReport {
  ok: boolean;
  problems: number;
  warnings: number;
  project: string | null;
  machine: string | null;
  config: string | null;
  checks: CheckResult[];
}

/** Runs every check; never throws for what it checks (only for bugs). */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const checks: CheckResult[] = [];
  let setup: ResolvedSetup | null = null;
  try {
    setup = await resolveSetup(options.runtime);
    checks.push(finding(
      "config",
      "ok",
      `${
        setup.loaded.source ?? "built-in defaults"
      } (trust: ${setup.trust}); project ${setup.project}, machine ${setup.machine}`,
    ));
    for (const w of setup.warnings) checks.push(finding("config", "warning", w));
  } catch (err) {
    if (!isCoordinatorError(err)) throw err;
    checks.push(finding("config", "problem", errorLine(err), ERROR_HINTS[err.code]));
  }
  if (setup === null) {
    for (const check of ["storage", "writable", "disk", "locks", "clock"]) {
      checks.push(finding(check, "skipped", "not checked: the config is invalid"));
    }
  } else {
    checks.push(...await storageChecks(setup, options));
  }
  const root = setup?.projectRoot ?? (await findProjectRoot(options.runtime.cwd)).root;
  checks.push(...await checkGuard(root));
  const problems = checks.filter((c) => c.status === "problem").length;
  return {
    ok: problems === 0,
    problems,
    warnings: checks.filter((c) => c.status === "warning").length,
    project: options.projectId ?? setup?.project ?? null,
    machine: setup?.machine ?? null,
    config: setup ? setup.loaded.source ?? "built-in defaults" : null,
    checks,
  };
}

/** storage, writable, disk, locks and clock, in that order. */
async function storageChecks(setup: ResolvedSetup, options: DoctorOptions): Promise<CheckResult[]> {
  const chosen = options.projectId === undefined ? setup : { ...setup, project: options.projectId };
  const adapterLog: string[] = [];
  const config = setup.loaded.config.storage;
  // The local adapter's directory, as the adapter resolves it (it may not exist yet).
  const stateDir = config.adapter !== "local" ? null : resolve(
    setup.projectRoot,
    typeof config.config.base_path === "string" ? config.config.base_path : DEFAULT_BASE_PATH,
  );
  let ctx: ServerContext | null = null;
  const out: CheckResult[] = [];
  try {
    ctx = await openContext(chosen, { ...options.runtime, log: (l) => adapterLog.push(l) });
  } catch (err) {
    if (!isCoordinatorError(err)) throw err;
    out.push(openFailure(err, stateDir));
    out.push(finding("writable", "skipped", "not checked: the storage cannot be opened"));
  }
  try {
    if (ctx !== null) out.push(...await checkReadWrite(ctx));
    if (stateDir !== null) {
      out.push(await checkDisk(stateDir, options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES));
      out.push(...await checkLocks(stateDir, options.lockHeldMs ?? LOCK_HELD_MS));
    } else {
      const why = `not applicable: the storage is ${config.adapter}, not local files`;
      out.push(finding("disk", "skipped", why), finding("locks", "skipped", why));
    }
    if (ctx === null) {
      out.push(finding("clock", "skipped", "not checked: the storage cannot be opened"));
    } else if (out.some((c) => c.check === "storage" && c.status === "problem")) {
      out.push(finding("clock", "skipped", "not checked: the storage cannot be read"));
    } else {
      out.push(checkClock(ctx.storage, options.localClock ?? Date.now, adapterLog));
    }
  } finally {
    await ctx?.storage.close();
  }
  return out;
}

/** Runs doctor. */
export async function doctorCommand(input: CliInput): Promise<number> {
  noArguments("doctor", input.args);
  const minFreeMb = parseCount("min-free-mb", input.flags["min-free-mb"], 0);
  const report = await runDoctor({
    runtime: input.options,
    projectId: parseProjectId(input.flags["project-id"]),
    minFreeBytes: minFreeMb === undefined ? undefined : minFreeMb * 1024 * 1024,
  });
  if (input.flags.json) {
    printJson(report);
  } else {
    console.log(renderReport(report));
  }
  if (input.flags.verbose) {
    for (const c of report.checks) if (c.status !== "ok") log(`doctor: ${c.check}: ${c.detail}`);
  }
  return report.ok ? EXIT.ok : EXIT.failed;
}

const LABEL: Record<CheckResult["status"], string> = {
  ok: "ok",
  problem: "PROBLEM",
  warning: "warning",
  skipped: "skipped",
};

/** The report as text: one line per finding, then what to do for each problem and warning. */
export function renderReport(report: DoctorReport): string {
  const lines = [
    `${PACKAGE_NAME} doctor: ${report.project ?? "(unknown project)"} on ${
      report.machine ?? "(unknown machine)"
    }`,
    "",
  ];
  for (const c of report.checks) {
    lines.push(`  ${LABEL[c.status].padEnd(8)} ${c.check.padEnd(9)} ${c.detail}`);
    if (c.fix !== undefined && c.status !== "ok") {
      lines.push(`  ${"".padEnd(8)} ${"".padEnd(9)} fix: ${c.fix}`);
    }
  }
  lines.push("");
  lines.push(
    report.ok
      ? `No problems found${
        report.warnings > 0
          ? ` (${report.warnings} warning${report.warnings === 1 ? "" : "s"})`
          : ""
      }.`
      : `${report.problems} problem${report.problems === 1 ? "" : "s"} found.`,
  );
  return redactText(lines.join("\n"));
}
