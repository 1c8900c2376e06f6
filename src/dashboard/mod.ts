/**
 * The live web dashboard: a read-only page served on 127.0.0.1 (by default)
 * that shows a project's sessions, task board, dependency graph, file
 * reservations, handoffs, messages and audit log, updated by server-sent
 * events as the store's change feed reports changes.
 *
 * - auth.ts      Host, Origin and token checks
 * - server.ts    the HTTP handler and the event stream
 * - live.ts      the change feed, per-project caches, debounced refreshes
 * - sections.ts  what is read, and which scopes each part depends on
 * - model.ts     the snapshot the page renders
 * - graph.ts     the dependency graph's layout
 * - projects.ts  the projects a shared store holds
 * - page/        the page's HTML, CSS and script, embedded as strings
 *
 * @module
 */
import { CoordinatorError } from "../core/errors.ts";
import { NO_AUDIT } from "../core/audit.ts";
import type { ServerContext } from "../core/context.ts";
import { readOnlyStorage } from "./_read_only.ts";
import { type AccessPolicy, createGate, isLoopback, urlHost } from "./auth.ts";
import { createLive, type LiveOptions } from "./live.ts";
import { createHandler, type DashboardHandler } from "./server.ts";

export { isLoopback } from "./auth.ts";

/** The environment variable that may hold the dashboard's token. */
export const TOKEN_ENV = "CLAUDE_SESSION_COORDINATOR_TOKEN";

/** Options of startDashboard. */
export interface DashboardOptions {
  /** The opened storage and identity; the dashboard only reads through it and never closes it. */
  ctx: ServerContext;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Required off loopback; when set, required on loopback too. */
  token: string | null;
  /** The project shown first; the context's own by default. */
  project?: string;
  log: (line: string) => void;
  /** This machine's name, accepted in Host on a wildcard bind. */
  machineName?: string | null;
  /** Timings, for tests. */
  timing?: Pick<LiveOptions, "debounceMs" | "leaseCheckMs" | "refreshMs"> & {
    keepAliveMs?: number;
  };
}

/** A running dashboard. */
export interface RunningDashboard {
  /** The address to open, e.g. http://127.0.0.1:4117/ (never with the token). */
  url: string;
  port: number;
  /** Ends the event streams, stops serving and stops the feed. */
  close(): Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
}

/**
 * Starts the dashboard. Refuses (CONFIG_INVALID) a non-loopback address
 * without a token and a port that is taken, naming it.
 *
 * @example
 * ```ts ignore
 * const dashboard = await startDashboard({ ctx, host: "127.0.0.1", port: 0, token: null, log });
 * console.error(`dashboard: ${dashboard.url}`);
 * ```
 */
export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const { host, token } = options;
  if (!isLoopback(host) && token === null) {
    throw new CoordinatorError(
      "CONFIG_INVALID",
      `the dashboard would listen on ${host}, which other machines can reach, without a token: set one (--token, dashboard.token or $${TOKEN_ENV}, at least 16 characters) or bind to 127.0.0.1.`,
      { host },
    );
  }
  const ctx: ServerContext = {
    ...options.ctx,
    storage: readOnlyStorage(options.ctx.storage),
    audit: NO_AUDIT,
  };
  if (options.project !== undefined) {
    ctx.identity = { machine: ctx.identity.machine, project: options.project };
  }
  // The handler needs the bound port (Host check, cookie name), known only
  // once the socket is listening; requests wait for it.
  const ready = Promise.withResolvers<DashboardHandler>();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: host,
      port: options.port,
      onListen: () => {},
      onError: (err) => {
        options.log(`dashboard: ${err instanceof Error ? err.message : String(err)}`);
        return new Response("500 Internal Server Error\n", { status: 500 });
      },
    }, async (request) => (await ready.promise).handle(request));
  } catch (err) {
    throw listenError(err, host, options.port);
  }
  const port = server.addr.port;
  const policy: AccessPolicy = { host, port, token, machineName: options.machineName ?? null };
  const live = createLive({
    ctx,
    // Subjects, first lines and reasons are for people who may read the
    // board: anyone on this machine (loopback) or a token holder. A
    // non-loopback dashboard always has a token, so this holds for every
    // request that gets through the gate.
    details: isLoopback(host) || token !== null,
    log: options.log,
    ...options.timing,
  });
  const handler = createHandler({
    live,
    gate: await createGate(policy),
    project: ctx.identity.project,
    keepAliveMs: options.timing?.keepAliveMs,
  });
  ready.resolve(handler);
  let closing: Promise<void> | null = null;
  return {
    url: `http://${urlHost(host)}:${port}/`,
    port,
    finished: server.finished,
    close() {
      closing ??= (async () => {
        handler.closeStreams();
        live.close();
        await server.shutdown();
      })();
      return closing;
    },
  };
}

/** A failure to listen, as an error that names the address and what to do. */
function listenError(err: unknown, host: string, port: number): CoordinatorError {
  if (err instanceof Deno.errors.AddrInUse) {
    return new CoordinatorError(
      "CONFIG_INVALID",
      `port ${port} on ${host} is taken (another dashboard, or another program): choose another with --port, or --port 0 for a free one.`,
      { host, port },
      { cause: err },
    );
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return new CoordinatorError(
      "CONFIG_INVALID",
      `cannot listen on ${host}: no network interface of this machine has that address (dashboard.host / --host).`,
      { host, port },
      { cause: err },
    );
  }
  if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
    return new CoordinatorError(
      "CONFIG_INVALID",
      `the dashboard may not listen on ${host}:${port}: run it with --allow-net=${
        urlHost(host)
      } (the compiled binary has it).`,
      { host, port },
      { cause: err },
    );
  }
  // Anything else that stops a listener is the address: a name that does not resolve, say.
  return new CoordinatorError(
    "CONFIG_INVALID",
    `cannot listen on ${host}:${port} (dashboard.host / --host): ${
      err instanceof Error ? err.message : String(err)
    }.`,
    { host, port },
    { cause: err },
  );
}
