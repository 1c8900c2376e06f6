/**
 * `dashboard`: serves the live web dashboard until interrupted. Flags win
 * over the config's `dashboard` section; the token comes from --token,
 * $CLAUDE_SESSION_COORDINATOR_TOKEN or dashboard.token, in that order.
 */
import { CoordinatorError } from "../core/errors.ts";
import { isLoopback, startDashboard, TOKEN_ENV } from "../dashboard/mod.ts";
import { isProjectId } from "../dashboard/projects.ts";
import { openContext, resolveSetup } from "../setup/runtime.ts";
import { type CliInput, EXIT, log, reportError, UsageError } from "./_shared.ts";

const MIN_TOKEN_CHARS = 16;

/** A --port value: a whole number from 0 to 65535; undefined when absent. */
function parsePort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,5}$/.test(text.trim()) || Number(text) > 65_535) {
    throw new UsageError(
      `--port must be a port number from 0 to 65535 (0: a free one), not ${JSON.stringify(text)}`,
    );
  }
  return Number(text);
}

/** The token and where it came from, checked for length; null when none is set. */
function pickToken(
  flag: string | undefined,
  env: string | undefined,
  config: string | undefined,
): string | null {
  const [token, source] = flag !== undefined
    ? [flag, "--token"]
    : env !== undefined && env !== ""
    ? [env, `$${TOKEN_ENV}`]
    : [config, "dashboard.token"];
  if (token === undefined) return null;
  if (token.length < MIN_TOKEN_CHARS || /\s/.test(token)) {
    throw new UsageError(
      `${source} must be at least ${MIN_TOKEN_CHARS} characters without spaces (use a random one, e.g. openssl rand -hex 24)`,
    );
  }
  return token;
}

/**
 * $CLAUDE_SESSION_COORDINATOR_TOKEN, or undefined when unset or when this
 * process may not read it (a build whose --allow-env does not list it):
 * then a warning says so, since the user may think a token is set.
 */
function envToken(env: (name: string) => string | undefined): string | undefined {
  try {
    return env(TOKEN_ENV);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied)) {
      throw err;
    }
    log(
      `warning: cannot read $${TOKEN_ENV} (no --allow-env=${TOKEN_ENV}); pass --token or set dashboard.token to require a token`,
    );
    return undefined;
  }
}

function machineName(): string | null {
  try {
    return Deno.hostname();
  } catch {
    return null;
  }
}

/** Waits for SIGINT or SIGTERM (SIGINT only on Windows), or for the server to stop. */
async function untilStopped(finished: Promise<void>): Promise<void> {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const { promise, resolve } = Promise.withResolvers<void>();
  for (const sig of signals) Deno.addSignalListener(sig, resolve);
  try {
    await Promise.race([promise, finished]);
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, resolve);
  }
}

/** Serves the dashboard until interrupted; returns the exit code. */
export async function dashboardCommand(input: CliInput): Promise<number> {
  const { flags, options } = input;
  if (input.args.length > 0) {
    throw new UsageError(
      `dashboard takes no arguments, got ${JSON.stringify(input.args.join(" "))}`,
    );
  }
  const port = parsePort(flags.port);
  const project = flags["project-id"];
  if (project !== undefined && !isProjectId(project)) {
    throw new UsageError(
      `--project-id ${
        JSON.stringify(project)
      } is not a project id: ids look like "acme/widgets" (no ":", no spaces, not starting with "@")`,
    );
  }
  if (flags.host === "") throw new UsageError("--host must not be empty");
  const setup = await resolveSetup(options);
  const config = setup.loaded.config.dashboard;
  const host = flags.host ?? config.host;
  // The environment is read only when --token is absent: no warning for an unreadable variable then.
  const fromEnv = flags.token === undefined ? envToken(options.env) : undefined;
  for (const warning of setup.warnings) log(`warning: ${warning}`);
  const token = pickToken(flags.token, fromEnv, config.token);
  try {
    if (flags.host === undefined && !isLoopback(host) && setup.trust === "project") {
      // A project's own config arrives with `git clone`: it must not be able
      // to put this machine's board on the network (with a token it chose).
      throw new CoordinatorError(
        "CONFIG_INVALID",
        `${setup.loaded.source}: dashboard.host ${host} would let other machines reach the dashboard, and this config came with the repository: pass --host yourself, or trust the project (trusted_projects in ~/.config/claude-session-coordinator/config.json).`,
      );
    }
    if (!isLoopback(host) && token === null) {
      throw new CoordinatorError(
        "CONFIG_INVALID",
        `the dashboard would listen on ${host}, which other machines can reach, without a token: set one (--token, dashboard.token or $${TOKEN_ENV}, at least ${MIN_TOKEN_CHARS} characters) or bind to 127.0.0.1.`,
      );
    }
  } catch (err) {
    // A setting that would expose the board is refused like a wrong command line: exit 2.
    reportError(err, flags.verbose ?? false);
    return EXIT.usage;
  }
  const ctx = await openContext(setup, { registry: options.registry, log });
  try {
    const dashboard = await startDashboard({
      ctx,
      host,
      port: port ?? config.port,
      token,
      project,
      log,
      machineName: machineName(),
    });
    try {
      console.error(`dashboard: ${dashboard.url}`);
      log(
        `dashboard: ${project ?? setup.project} on ${ctx.storage.name}, read-only${
          token === null
            ? ""
            : `; it requires its token: open ${dashboard.url}?token=<token> once, or send Authorization: Bearer <token>`
        }`,
      );
      await untilStopped(dashboard.finished);
    } finally {
      await dashboard.close();
    }
  } finally {
    await ctx.storage.close();
  }
  return EXIT.ok;
}
