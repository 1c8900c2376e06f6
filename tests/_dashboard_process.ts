/**
 * The dashboard as a real process (`main.ts dashboard`), and plain HTTP
 * requests with headers fetch will not send as given (Host), for the
 * dashboard's end-to-end tests. Everything started here, stop() ends.
 */
import { chromiumAvailable } from "../scripts/_chromium.ts";
import {
  childEnv,
  type McpSession,
  type Project,
  serverArgs,
  type SpawnOptions,
  startTaskFlags,
  withTimeout,
} from "./_stdio_harness.ts";

/** The variable the dashboard may read its token from. */
const TOKEN_ENV = "CLAUDE_SESSION_COORDINATOR_TOKEN";

/**
 * The start task's permissions plus listening (and reaching Redis) on
 * loopback, and reading the token's variable when the start task does not
 * list it yet.
 */
export function dashboardFlags(): string[] {
  const flags = startTaskFlags().map((flag) =>
    flag.startsWith("--allow-env=") && !flag.split(/[=,]/).includes(TOKEN_ENV)
      ? `${flag},${TOKEN_ENV}`
      : flag
  );
  return [...flags, "--allow-net=127.0.0.1"];
}

/** A running dashboard process. */
export interface DashboardProcess {
  /** The URL it printed, e.g. http://127.0.0.1:41234/ */
  url: string;
  port: number;
  stderr(): string;
  /** SIGTERM, then SIGKILL after 30 s; resolves with the exit status once its output is drained. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Starts `main.ts dashboard --port 0 …args` in the project and waits for its URL. */
export async function startDashboardProcess(
  project: Project,
  args: string[] = [],
  options: Pick<SpawnOptions, "env" | "cwd"> = {},
): Promise<DashboardProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: serverArgs({ flags: dashboardFlags(), args: ["dashboard", "--port", "0", ...args] }),
    cwd: options.cwd ?? project.root,
    env: await childEnv(project.home, options.env),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const { promise: printed, resolve } = Promise.withResolvers<string | null>();
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      const m = /^dashboard: (http:\/\/\S+)$/m.exec(text);
      if (m) resolve(m[1]);
    }
    resolve(null);
  })();
  let stopping: Promise<Deno.CommandStatus> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, 30_000);
      const status = await child.status;
      clearTimeout(timer);
      await reading;
      return status;
    })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const url = await Promise.race([
    printed,
    new Promise<null>((r) => timer = setTimeout(() => r(null), 30_000)),
  ]);
  clearTimeout(timer);
  if (url === null) {
    await stop();
    throw new Error(`the dashboard printed no URL:\n${text}`);
  }
  return { url, port: Number(new URL(url).port), stderr: () => text, stop };
}

/**
 * Stops an MCP server process with one SIGTERM (it releases its instance and
 * exits) and waits for it. The SDK's own close() sends SIGTERM 2 s after
 * closing stdin; on a loaded machine that can land while the process is
 * already exiting and writing its coverage, and cut the file short.
 */
export async function stopSession(session: McpSession): Promise<void> {
  try {
    Deno.kill(session.pid, "SIGTERM");
  } catch {
    // already gone
  }
  await withTimeout(session.exited, 30_000, `server ${session.pid} to exit after SIGTERM`);
  await session.close();
}

/**
 * Sends one GET with exactly these headers over a fresh connection and
 * returns the status code (fetch would set Host itself).
 */
export async function rawGet(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const lines = [
      `GET ${path} HTTP/1.1`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    await conn.write(
      new TextEncoder().encode(`${lines.join("\r\n")}\r\nConnection: close\r\n\r\n`),
    );
    let head = "";
    const buf = new Uint8Array(4096);
    while (!head.includes("\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      head += new TextDecoder().decode(buf.subarray(0, n));
    }
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!m) throw new Error(`no HTTP status line: ${JSON.stringify(head.slice(0, 200))}`);
    return Number(m[1]);
  } finally {
    conn.close();
  }
}

/**
 * True when the browser tests must be skipped: chromium is missing and this
 * is not CI. Under CI=true they run anyway and fail, so CI cannot pass by
 * testing nothing (.ci/run installs chromium).
 */
export function skipBrowserTests(): boolean {
  if (chromiumAvailable()) return false;
  if (Deno.env.get("CI") === "true") {
    console.error(
      "\n!! CI=true but chromium is not installed: the dashboard's browser tests will FAIL.\n",
    );
    return false;
  }
  console.warn(
    "\n" + "=".repeat(72) +
      "\n== SKIPPING the dashboard's browser tests: chromium is not installed." +
      "\n== Install it (apt-get install chromium) or set $CHROMIUM to run them." +
      "\n" + "=".repeat(72) + "\n",
  );
  return true;
}
