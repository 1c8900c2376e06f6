/**
 * Services an adapter row may need ("needs" in bench/adapters.json), started
 * on a free loopback port for the row and stopped after it: "redis-server",
 * and "postgres" (a fresh cluster in a temp directory, through the test
 * harness, flushing every commit); a row needing anything else is skipped.
 */
import { sleep } from "./_setup.ts";
import { postgresAvailable, startPostgresServer } from "../tests/_postgres_server.ts";

/** A running service. */
export interface Service {
  name: string;
  port: number;
  /** Extra placeholders for the row's config, e.g. PORT. */
  vars: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts what a row needs, or returns the reason it cannot be had here. */
export async function startService(
  need: string,
  args: string[],
  dir: string,
): Promise<Service | { skip: string }> {
  if (need === "postgres") return await startPostgres();
  if (need !== "redis-server") return { skip: `unknown service "${need}" in "needs"` };
  if (!(await canRun("redis-server", ["--version"]))) {
    return { skip: "redis-server is not installed (apt-get install redis-server)" };
  }
  const port = freePort();
  const child = new Deno.Command("redis-server", {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      "--daemonize",
      "no",
      "--logfile",
      "",
      ...args,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 5000;
  while (!(await redisPing(port))) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      return { skip: `redis-server did not answer PING on 127.0.0.1:${port} within 5 s` };
    }
    await sleep(50);
  }
  let stopped: Promise<void> | null = null;
  return {
    name: need,
    port,
    vars: { PORT: String(port) },
    stop() {
      stopped ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* already gone */ }
        }, 3000);
        await child.status;
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}

async function canRun(cmd: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function redisPing(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

/** A PostgreSQL cluster for a row: ${PORT} and ${PG_URL} for its config. */
async function startPostgres(): Promise<Service | { skip: string }> {
  if (!postgresAvailable()) {
    return { skip: "PostgreSQL is not installed (apt-get install postgresql)" };
  }
  const server = await startPostgresServer({ durable: true });
  return {
    name: "postgres",
    port: server.port,
    vars: { PORT: String(server.port), PG_URL: server.url() },
    stop: () => server.stop(),
  };
}
