/**
 * Test harness: a real, throwaway PostgreSQL server on a free 127.0.0.1 port,
 * in a fresh temporary data directory, with unix sockets off.
 *
 * It needs PostgreSQL's server binaries (Debian: `apt-get install
 * postgresql`, found in /usr/lib/postgresql/<version>/bin; elsewhere initdb
 * and pg_ctl on PATH). initdb refuses to run as root, so as root the server
 * runs as the `postgres` OS user (which Debian's package creates) through
 * runuser (or su), and its directory is handed to that user.
 *
 * Without PostgreSQL a local run skips the tests with a loud banner (register
 * them with `ignore: skipPostgresTests()`); under CI (CI=true) they run
 * anyway and fail, so a CI image without PostgreSQL cannot go green by
 * silently testing nothing.
 *
 * initdb takes about a second, so a test file shares one server (see
 * lazyPostgresServer) and gives each test a schema of its own; tests that stop
 * or freeze the server start their own.
 */
import { join } from "node:path";
import pg from "../src/storage/postgres/_pg.ts";

/** A running PostgreSQL server owned by one test or test file. */
export interface PostgresServer {
  readonly port: number;
  /** The temporary directory: data/, the log, the password file, TLS files. */
  readonly dir: string;
  /** The superuser's name and password (the password has characters URLs must escape). */
  readonly user: string;
  readonly password: string;
  /** The CA's PEM file, when started with `tls`. */
  readonly caFile: string | undefined;
  /**
   * `postgres://user:password@127.0.0.1:port/database`, percent-encoded; the
   * superuser and the `postgres` database unless told otherwise (a null
   * password leaves it out).
   */
  url(options?: { user?: string; password?: string | null; database?: string }): string;
  /** Runs SQL as the superuser on a fresh connection; the rows of its last statement. */
  sql<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  /** Stops the server for good and removes its directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops the server but keeps its data, for start(): SIGINT is PostgreSQL's
   * fast shutdown; SIGKILL kills the postmaster and every backend at once,
   * like a crash.
   */
  kill(signal?: "SIGINT" | "SIGKILL"): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Freezes every process of the server (SIGSTOP): connections open, nothing answers. */
  pause(): void;
  /** Unfreezes a paused server. */
  resume(): void;
}

/** Options of startPostgresServer. */
export interface PostgresServerOptions {
  /** Turns TLS on with a certificate for 127.0.0.1 and localhost, signed by a fresh CA. */
  tls?: boolean;
  /** Listens on this port instead of a free one picked by the OS. */
  port?: number;
  /** The superuser's password; a random one with characters URLs must escape by default. */
  password?: string;
  /** Flush to disk at every commit, as a production server does (the benchmark); off for tests. */
  durable?: boolean;
}

const ADMIN_USER = "csc_admin";
const START_TIMEOUT_S = 30;
const STOP_TIMEOUT_MS = 15_000;

/** The directory holding initdb, pg_ctl and postgres, or null when PostgreSQL is not installed. */
export function postgresBinDir(): string | null {
  const candidates: string[] = [];
  try {
    // Debian and Ubuntu keep each major version's binaries apart; take the newest.
    const versions = [...Deno.readDirSync("/usr/lib/postgresql")]
      .map((e) => e.name)
      .filter((n) => /^\d+$/.test(n))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch {
    // Not Debian.
  }
  const path = Deno.env.get("PATH") ?? "";
  candidates.push(...path.split(":").filter((d) => d !== ""));
  // Homebrew's versioned formulas are keg-only: not on PATH unless linked.
  for (const prefix of ["/opt/homebrew/opt", "/usr/local/opt"]) {
    try {
      const kegs = [...Deno.readDirSync(prefix)]
        .map((e) => e.name)
        .filter((n) => /^postgresql(@\d+)?$/.test(n))
        .sort((a, b) => Number(b.split("@")[1] ?? 0) - Number(a.split("@")[1] ?? 0));
      candidates.push(...kegs.map((k) => `${prefix}/${k}/bin`));
    } catch {
      // No Homebrew there.
    }
  }
  for (const dir of candidates) {
    const ok = ["initdb", "pg_ctl", "postgres"].every((bin) => {
      try {
        return Deno.statSync(join(dir, bin)).isFile;
      } catch {
        return false;
      }
    });
    if (ok) return dir;
  }
  return null;
}

/** True when a PostgreSQL server can be started here. */
export function postgresAvailable(): boolean {
  return postgresBinDir() !== null;
}

/**
 * True when the PostgreSQL tests must be skipped: it is not installed and
 * this is not CI. Prints a banner saying so, since a skipped backend is easy
 * to miss.
 */
export function skipPostgresTests(): boolean {
  if (postgresAvailable()) return false;
  if (Deno.env.get("CI") === "true") {
    console.error(
      "\n" + "!".repeat(72) +
        "\n!! CI=true but PostgreSQL is not installed: the postgres tests will FAIL." +
        "\n!! Install it (apt-get install postgresql) in the CI image.\n" + "!".repeat(72) +
        "\n",
    );
    return false;
  }
  console.warn(
    "\n" + "=".repeat(72) +
      "\n== SKIPPING the postgres adapter tests: PostgreSQL is not installed." +
      "\n== Install it (apt-get install postgresql / brew install postgresql) to run them." +
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

/** How to run a server binary: as root, as the postgres user (initdb refuses root). */
interface RunAs {
  uid: number;
  gid: number;
  wrap(command: string[]): string[];
}

async function output(cmd: string, args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
}

async function runAs(): Promise<RunAs | null> {
  if (Deno.uid() !== 0) return null;
  const uid = await output("id", ["-u", "postgres"]);
  const gid = await output("id", ["-g", "postgres"]);
  if (!uid.success || !gid.success) {
    throw new Error(
      "running as root, but there is no postgres user to run PostgreSQL as (initdb refuses " +
        "root): install Debian's postgresql package, or run the tests as another user.",
    );
  }
  const hasRunuser = await output("runuser", ["--help"]).then((o) => o.success, () => false);
  return {
    uid: Number(new TextDecoder().decode(uid.stdout).trim()),
    gid: Number(new TextDecoder().decode(gid.stdout).trim()),
    wrap: (command) =>
      hasRunuser
        ? ["runuser", "-u", "postgres", "--", ...command]
        : ["su", "postgres", "-s", "/bin/sh", "-c", command.map(shellQuote).join(" ")],
  };
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

async function run(as: RunAs | null, command: string[], what: string): Promise<void> {
  const [cmd, ...args] = as === null ? command : as.wrap(command);
  const out = await output(cmd, args);
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`${what} failed (exit ${out.code}):\n${text.slice(-3000)}`);
  }
}

/** True once a process is gone (or a zombie nobody reaps, as in some containers). */
function processGone(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" || state === "X";
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return true;
    // No /proc (macOS): a signal tells.
    try {
      Deno.kill(pid, "SIGCONT");
      return false;
    } catch {
      return true;
    }
  }
}

/** The server's processes: the postmaster and its children. */
function serverProcesses(postmaster: number): number[] {
  const pids = [postmaster];
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        if (ppid === postmaster) pids.push(Number(entry.name));
      } catch {
        // It exited while we looked.
      }
    }
  } catch {
    // No /proc (macOS): ask pgrep.
    try {
      const out = new Deno.Command("pgrep", { args: ["-P", String(postmaster)], stdout: "piped" })
        .outputSync();
      pids.push(...new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).map(Number));
    } catch {
      // No pgrep either: the backends exit when they notice the postmaster is gone.
    }
  }
  return pids;
}

function signalAll(pids: number[], signal: Deno.Signal): void {
  for (const pid of pids) {
    try {
      Deno.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** Makes a CA and a server certificate for 127.0.0.1 and localhost with openssl. */
async function makeCertificates(dir: string): Promise<void> {
  // Elliptic-curve keys: generated in milliseconds, where RSA takes a while.
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const steps: string[][] = [
    ["req", "-x509", ...key, "-days", "2", "-subj", "/CN=csc test CA"]
      .concat(["-keyout", join(dir, "ca.key"), "-out", join(dir, "ca.crt")]),
    ["req", ...key, "-subj", "/CN=localhost"]
      .concat(["-keyout", join(dir, "server.key"), "-out", join(dir, "server.csr")]),
    ["x509", "-req", "-days", "2", "-in", join(dir, "server.csr"), "-CA", join(dir, "ca.crt")]
      .concat(["-CAkey", join(dir, "ca.key"), "-CAcreateserial", "-out", join(dir, "server.crt")])
      .concat(["-extfile", join(dir, "san.ext")]),
  ];
  await Deno.writeTextFile(join(dir, "san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  for (const args of steps) {
    const out = await output("openssl", args);
    if (!out.success) throw new Error(`openssl failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  await Deno.chmod(join(dir, "server.key"), 0o600);
}

/** Starts a server on a free 127.0.0.1 port and waits until it accepts connections. */
export async function startPostgresServer(
  options: PostgresServerOptions = {},
): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (bin === null) throw new Error("PostgreSQL is not installed (apt-get install postgresql).");
  const as = await runAs();
  const dir = await Deno.makeTempDir({ prefix: "csc-postgres-" });
  try {
    return await launch(bin, as, dir, options);
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
}

async function launch(
  bin: string,
  as: RunAs | null,
  dir: string,
  options: PostgresServerOptions,
): Promise<PostgresServer> {
  const data = join(dir, "data");
  const logFile = join(dir, "postgres.log");
  const password = options.password ?? `pw:/@%?#${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(join(dir, "pwfile"), password + "\n");
  if (options.tls) await makeCertificates(dir);
  if (as !== null) {
    for (const path of [dir, join(dir, "pwfile")]) await Deno.chown(path, as.uid, as.gid);
    if (options.tls) {
      for (const f of ["server.key", "server.crt"]) await Deno.chown(join(dir, f), as.uid, as.gid);
    }
  }
  await run(as, [
    join(bin, "initdb"),
    "-D",
    data,
    "-U",
    ADMIN_USER,
    `--pwfile=${join(dir, "pwfile")}`,
    "-A",
    "scram-sha-256",
    "-E",
    "UTF8",
    "--locale=C",
    // A test server needs no durability against power loss: a process crash
    // (which the outage tests cause) keeps everything written to the kernel.
    "--no-sync",
  ], "initdb");
  const settings = [
    "listen_addresses = '127.0.0.1'",
    "unix_socket_directories = ''",
    ...(options.durable ? [] : ["fsync = off", "full_page_writes = off"]),
    "max_connections = 100",
    "shared_buffers = 32MB",
    "log_min_messages = warning",
  ];
  if (options.tls) {
    settings.push(
      "ssl = on",
      `ssl_cert_file = '${join(dir, "server.crt")}'`,
      `ssl_key_file = '${join(dir, "server.key")}'`,
    );
  }
  const conf = join(data, "postgresql.conf");

  let port = 0;
  let postmaster = 0;
  const unload = () => {
    // A test process that dies without its finally still takes its server along.
    if (postmaster !== 0) signalAll(serverProcesses(postmaster), "SIGKILL");
  };

  async function pgCtlStart(): Promise<void> {
    await run(as, [
      join(bin, "pg_ctl"),
      "start",
      "-D",
      data,
      "-l",
      logFile,
      "-w",
      "-t",
      String(START_TIMEOUT_S),
      "-s",
    ], `pg_ctl start on port ${port}`).catch(async (err) => {
      const log = await Deno.readTextFile(logFile).catch(() => "(no log)");
      throw new Error(`${(err as Error).message}\n${log.slice(-8000)}`);
    });
    const pidText = await Deno.readTextFile(join(data, "postmaster.pid"));
    postmaster = Number(pidText.split("\n")[0]);
  }

  // A port picked by the OS can be taken again before PostgreSQL binds it; retry.
  for (let attempt = 1;; attempt++) {
    port = options.port ?? freePort();
    // The last setting of a name wins, so a retry just appends.
    await Deno.writeTextFile(conf, [...settings, `port = ${port}`, ""].join("\n"), {
      append: true,
    });
    try {
      await pgCtlStart();
      break;
    } catch (err) {
      if (attempt >= 3 || options.port !== undefined) throw err;
    }
  }
  globalThis.addEventListener("unload", unload);

  async function kill(signal: "SIGINT" | "SIGKILL" = "SIGINT"): Promise<void> {
    if (postmaster === 0) return;
    const pids = serverProcesses(postmaster);
    signalAll(pids, "SIGCONT"); // a frozen server would not act on its signal
    signalAll(signal === "SIGKILL" ? pids : [postmaster], signal);
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (!pids.every(processGone)) {
      if (Date.now() > deadline) {
        signalAll(pids, "SIGKILL");
        if (Date.now() > deadline + 5_000) throw new Error(`postgres ${postmaster} would not stop`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    postmaster = 0;
    // A killed postmaster leaves its lock file. Where nobody reaps orphans (a
    // container whose PID 1 does not), its PID lives on as a zombie, and the
    // next postmaster would take it for a running server and refuse to start.
    await Deno.remove(join(data, "postmaster.pid")).catch(() => {});
  }

  const server: PostgresServer = {
    port,
    dir,
    user: ADMIN_USER,
    password,
    caFile: options.tls ? join(dir, "ca.crt") : undefined,
    url(o = {}) {
      const user = encodeURIComponent(o.user ?? ADMIN_USER);
      const pw = o.password === null ? null : o.password ?? password;
      const auth = pw === null ? user : `${user}:${encodeURIComponent(pw)}`;
      return `postgres://${auth}@127.0.0.1:${port}/${encodeURIComponent(o.database ?? "postgres")}`;
    },
    async sql<R>(text: string, params?: unknown[]): Promise<R[]> {
      const client = new pg.Client({
        host: "127.0.0.1",
        port,
        user: ADMIN_USER,
        password,
        database: "postgres",
        ssl: options.tls ? { rejectUnauthorized: false } : false,
      });
      await client.connect();
      try {
        const result = await client.query(text, params);
        // Several statements without parameters give one result each.
        const last = Array.isArray(result) ? result[result.length - 1] : result;
        return last.rows as R[];
      } finally {
        await client.end();
      }
    },
    kill,
    async start() {
      if (postmaster !== 0) return;
      await pgCtlStart();
    },
    async stop() {
      globalThis.removeEventListener("unload", unload);
      await kill("SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    pause() {
      if (postmaster !== 0) signalAll(serverProcesses(postmaster), "SIGSTOP");
    },
    resume() {
      if (postmaster !== 0) signalAll(serverProcesses(postmaster), "SIGCONT");
    },
  };
  return server;
}

/**
 * One server for a whole test file, started by the first test that asks and
 * stopped by `stop()`, which the file registers with Deno.test.afterAll.
 */
export function lazyPostgresServer(options: PostgresServerOptions = {}): {
  get(): Promise<PostgresServer>;
  stop(): Promise<void>;
} {
  let started: Promise<PostgresServer> | null = null;
  return {
    get() {
      started ??= startPostgresServer(options);
      return started;
    },
    async stop() {
      const s = await started?.catch(() => null);
      await s?.stop();
    },
  };
}

/** A schema name no other test uses, so tests sharing a server cannot see each other. */
export function freshSchema(): string {
  return `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}
