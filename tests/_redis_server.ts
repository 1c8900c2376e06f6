/**
 * Test harness: a real, throwaway redis-server on a free 127.0.0.1 port.
 *
 * Without redis-server installed, a local run skips the Redis tests with a
 * loud banner (register them with `ignore: skipRedisTests()`); under CI
 * (CI=true) they run anyway and fail, so a CI image without Redis cannot go
 * green by silently testing nothing.
 */

import { createClient } from "redis";
import { CoordinatorError, describeError } from "../src/core/errors.ts";

/** A running redis-server owned by one test. */
export interface RedisServer {
  /** redis://[:password@]127.0.0.1:port */
  readonly url: string;
  readonly port: number;
  /** The server's --dir (holds the AOF when appendonly is on). */
  readonly dir: string;
  /** Stops the server for good and removes its directory. Idempotent. */
  stop(): Promise<void>;
  /** Stops the process but keeps its data, for restart(). SIGKILL simulates a crash. */
  kill(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts the server again on the same port and directory (killing it first if running). */
  restart(): Promise<void>;
  /** Freezes the process (SIGSTOP): the port accepts connections but nothing answers. */
  pause(): void;
  /** Unfreezes a paused server (SIGCONT). */
  resume(): void;
}

/** Options of startRedisServer. */
export interface RedisServerOptions {
  /** Sets --requirepass; the URL then carries it. */
  password?: string;
  /** AOF with fsync on every write: acknowledged writes survive a crash. */
  durable?: boolean;
  /**
   * Listen on this port (one a test reserved with freePort) instead of a
   * fresh one; start-up then fails rather than moving to another port.
   */
  port?: number;
}

const STARTUP_TIMEOUT_MS = 5000;

/** True when a redis-server binary can be run here. */
export function redisAvailable(): boolean {
  try {
    return new Deno.Command("redis-server", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/**
 * True when the Redis tests must be skipped: redis-server is missing and this
 * is not CI. Prints a banner saying so, since a skipped backend is easy to miss.
 */
export function skipRedisTests(): boolean {
  if (redisAvailable()) return false;
  if (Deno.env.get("CI") === "true") {
    console.error(
      "\n" + "!".repeat(72) +
        "\n!! CI=true but redis-server is not installed: the Redis tests will FAIL." +
        "\n!! Install it (apt-get install redis-server) in the CI image.\n" + "!".repeat(72) +
        "\n",
    );
    return false;
  }
  console.warn(
    "\n" + "=".repeat(72) +
      "\n== SKIPPING the Redis adapter tests: redis-server is not installed." +
      "\n== Install it (apt-get install redis-server / brew install redis) to run them." +
      "\n" + "=".repeat(72) + "\n",
  );
  return true;
}

/** Finds a free TCP port on 127.0.0.1 by letting the OS pick one. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Starts a redis-server bound to 127.0.0.1 on a free port and waits until it answers. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  if (!redisAvailable()) {
    throw new Error("redis-server is not installed (apt-get install redis-server).");
  }
  const dir = await Deno.makeTempDir({ prefix: "csc-redis-" });
  // A port picked by the OS can be taken again before redis binds it; retry
  // (unless the test asked for one port: it wants that one or nothing).
  for (let attempt = 1;; attempt++) {
    const port = options.port ?? freePort();
    try {
      return await launch(port, dir, options);
    } catch (err) {
      if (attempt >= 3 || options.port !== undefined) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        throw err;
      }
    }
  }
}

function serverArgs(port: number, dir: string, options: RedisServerOptions): string[] {
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--protected-mode",
    "yes",
    "--save",
    "",
    "--dir",
    dir,
    "--logfile",
    "redis.log",
    "--daemonize",
    "no",
  ];
  if (options.durable) args.push("--appendonly", "yes", "--appendfsync", "always");
  else args.push("--appendonly", "no");
  if (options.password !== undefined) args.push("--requirepass", options.password);
  return args;
}

async function launch(port: number, dir: string, options: RedisServerOptions) {
  const args = serverArgs(port, dir, options);
  let child: Deno.ChildProcess | null = await spawnAndWait(port, dir, args);
  const auth = options.password === undefined ? "" : `:${encodeURIComponent(options.password)}@`;

  async function kill(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    if (child === null) return;
    const c = child;
    child = null;
    try {
      // A frozen process would not act on SIGTERM.
      c.kill("SIGCONT");
      c.kill(signal);
    } catch {
      // Already exited.
    }
    await c.status;
  }

  const server: RedisServer = {
    url: `redis://${auth}127.0.0.1:${port}`,
    port,
    dir,
    kill,
    async stop() {
      await kill("SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    async restart() {
      await kill("SIGTERM");
      child = await spawnAndWait(port, dir, args);
    },
    pause() {
      child?.kill("SIGSTOP");
    },
    resume() {
      child?.kill("SIGCONT");
    },
  };
  return server;
}

async function spawnAndWait(port: number, dir: string, args: string[]): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("redis-server", {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  child.status.then(() => {
    exited = true;
  });
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) break;
    if (await answersPing(port)) return child;
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!exited) {
    child.kill("SIGKILL");
    await child.status;
  }
  const log = await Deno.readTextFile(`${dir}/redis.log`).catch(() => "(no log)");
  throw new Error(`redis-server on port ${port} did not start:\n${log.slice(-2000)}`);
}

/** True when something on the port answers an inline PING (+PONG, or -NOAUTH when protected). */
async function answersPing(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | null = null;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    if (n === null) return false;
    const reply = new TextDecoder().decode(buf.subarray(0, n));
    // -LOADING means the AOF is still being replayed: not ready yet.
    return reply.startsWith("+PONG") || reply.startsWith("-NOAUTH");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

// ---------------------------------------------------------------------------
// Helpers shared by the Redis test files.

/** Runs `fn` against a fresh server, always stopping it (by its process) afterwards. */
export async function withServer(
  fn: (server: RedisServer) => Promise<void>,
  options: RedisServerOptions = {},
): Promise<void> {
  const server = await startRedisServer(options);
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

/** A plain client, for looking (and reaching) behind the adapter's back. */
export interface RawClient {
  /** Sends one command; replies come back as RESP2 strings, numbers, arrays and nulls. */
  send(...args: string[]): Promise<unknown>;
  close(): void;
}

/** Connects a plain node-redis client to `url`. */
export async function rawClient(url: string): Promise<RawClient> {
  const client = createClient({ url, RESP: 2 });
  client.on("error", () => {}); // the tests kill servers on purpose
  await client.connect();
  return {
    send: (...args: string[]) => client.sendCommand(args) as Promise<unknown>,
    close: () => client.destroy(),
  };
}

/** Polls `ok` every 10 ms until it holds; fails naming `what` after `ms`. */
export async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every way an error could carry a secret out: message, details, cause chain, JSON. */
export function errorText(err: unknown): string {
  const details = err instanceof CoordinatorError ? JSON.stringify(err.details) : "";
  return [String(err), describeError(err), details, JSON.stringify(err)].join("\n");
}
