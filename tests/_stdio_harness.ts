/**
 * Helpers for end-to-end tests that run the real server as a child process
 * over stdio: temp git repositories, server processes connected through the
 * SDK's Client, and raw processes driven line by line for signal and framing
 * tests. Everything a helper starts, its stop/cleanup ends and awaits.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { type CallToolResult, LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";

/** Absolute path of the repository under test (the folder holding deno.json). */
export const REPO_DIR: string = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
/** Absolute path of main.ts, the CLI entry point. */
export const MAIN_TS: string = join(REPO_DIR, "main.ts");
/** Absolute path of deno.json. */
export const DENO_JSON: string = join(REPO_DIR, "deno.json");
/** The origin remote every test repository gets. */
export const ORIGIN = "https://github.com/acme/widget.git";
/** The project id the server derives from ORIGIN. */
export const PROJECT_ID = "acme/widget";
/** The config variable that names a config file. */
export const CONFIG_ENV = "CLAUDE_SESSION_COORDINATOR_CONFIG";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

// ---------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------

/** Waits `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `fn` until it returns something other than undefined/null/false, or
 * throws naming `what` after `timeoutMs`.
 */
export async function pollUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== null && value !== false) return value as T;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${options.timeoutMs ?? 10_000} ms waiting for ${what}`);
    }
    await delay(options.intervalMs ?? 50);
  }
}

/** Races `promise` against a deadline; the timer never outlives the race. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Output of a finished command. */
export interface CommandResult {
  code: number;
  success: boolean;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, with stdin closed. */
export async function runCommand(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; clearEnv?: boolean } = {},
): Promise<CommandResult> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    success: out.success,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** Runs git with a fixed identity; throws with git's stderr on failure; returns trimmed stdout. */
export async function git(args: string[], cwd: string): Promise<string> {
  const res = await runCommand("git", [
    "-c",
    "user.name=t",
    "-c",
    "user.email=t@t",
    "-c",
    "commit.gpgsign=false",
    ...args,
  ], { cwd, env: { LC_ALL: "C", GIT_TERMINAL_PROMPT: "0" } });
  if (!res.success) throw new Error(`git ${args.join(" ")} failed in ${cwd}: ${res.stderr}`);
  return res.stdout.trim();
}

// ---------------------------------------------------------------------------
// Permission flags and the child's environment
// ---------------------------------------------------------------------------

/** The `--allow-*` flags of the `start` task in deno.json, in order. */
export function startTaskFlags(): string[] {
  const meta = JSON.parse(Deno.readTextFileSync(DENO_JSON)) as { tasks?: Record<string, string> };
  const task = meta.tasks?.start;
  if (typeof task !== "string") throw new Error(`deno.json has no "start" task`);
  const flags = task.split(/\s+/).filter((word) => /^--allow-[a-z-]+(=.*)?$/.test(word));
  if (flags.length === 0) throw new Error(`the start task has no --allow-* flags: ${task}`);
  return flags;
}

let denoDir: Promise<string> | null = null;

/**
 * The Deno cache directory of this process. The children run with a temp
 * HOME, which would otherwise move their cache there and download every npm
 * package again.
 */
export function denoCacheDir(): Promise<string> {
  denoDir ??= (async () => {
    const fromEnv = Deno.env.get("DENO_DIR");
    if (fromEnv) return fromEnv;
    const res = await runCommand(Deno.execPath(), ["info", "--json"], {
      env: { NO_COLOR: "1" },
    });
    if (!res.success) throw new Error(`deno info failed: ${res.stderr}`);
    return (JSON.parse(res.stdout) as { denoDir: string }).denoDir;
  })();
  return denoDir;
}

/**
 * The environment for a server child: this process's (so DENO_COVERAGE_DIR
 * reaches it), HOME in a temp folder (so no user config is read), the same
 * Deno cache, no config variable unless `extra` sets one.
 */
export async function childEnv(
  home: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const env: Record<string, string> = { ...Deno.env.toObject() };
  delete env[CONFIG_ENV];
  return { ...env, HOME: home, DENO_DIR: await denoCacheDir(), NO_COLOR: "1", ...extra };
}

// ---------------------------------------------------------------------------
// Temp projects
// ---------------------------------------------------------------------------

/** A temp git repository with its own HOME, all under one temp folder. */
export interface Project {
  /** The temp folder holding everything (removed by cleanup). */
  base: string;
  /** The main worktree of the repository (symlink-free). */
  root: string;
  /** HOME for the children. */
  home: string;
  /** The project config file written into the repo, or null. */
  configFile: string | null;
}

/** The project config's place inside a repo. */
export const PROJECT_CONFIG = join(".claude", "session-coordinator-config.json");

/**
 * Creates a repo on branch main with origin ORIGIN and one commit. `config`
 * (default a 5 s lease TTL) is written as the project config file; null
 * writes none.
 */
export async function createProject(
  options: { config?: unknown; origin?: string | null } = {},
): Promise<Project> {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "csc-e2e-" }));
  try {
    const root = join(base, "widget");
    const home = join(base, "home");
    await Deno.mkdir(root);
    await Deno.mkdir(home);
    await git(["init", "-q", "-b", "main"], root);
    const origin = options.origin === undefined ? ORIGIN : options.origin;
    if (origin !== null) await git(["remote", "add", "origin", origin], root);
    await Deno.writeTextFile(join(root, "README.md"), "widget\n");
    await git(["add", "README.md"], root);
    await git(["commit", "-q", "-m", "initial"], root);
    let configFile: string | null = null;
    const config = options.config === undefined
      ? { session: { lease_ttl_seconds: 5 } }
      : options.config;
    if (config !== null) {
      configFile = join(root, PROJECT_CONFIG);
      await Deno.mkdir(join(root, ".claude"), { recursive: true });
      await Deno.writeTextFile(
        configFile,
        typeof config === "string" ? config : JSON.stringify(config),
      );
    }
    return { base, root, home, configFile };
  } catch (err) {
    await Deno.remove(base, { recursive: true }).catch(() => {});
    throw err;
  }
}

/** Removes a project's temp folder. */
export async function removeProject(project: Project): Promise<void> {
  await Deno.remove(project.base, { recursive: true });
}

/** Runs `fn` with a fresh project that is removed afterwards. */
export async function withProject<T>(
  fn: (project: Project) => Promise<T>,
  options: { config?: unknown; origin?: string | null } = {},
): Promise<T> {
  const project = await createProject(options);
  try {
    return await fn(project);
  } finally {
    await removeProject(project);
  }
}

/** Adds a linked worktree `name` (next to the repo) on a new branch; returns its path. */
export async function addWorktree(project: Project, name: string, branch: string) {
  const path = join(project.base, name);
  await git(["worktree", "add", "-q", "-b", branch, path], project.root);
  return await Deno.realPath(path);
}

// ---------------------------------------------------------------------------
// Running the CLI
// ---------------------------------------------------------------------------

/** Options for spawning the server. */
export interface SpawnOptions {
  /** Working directory; the project root by default. */
  cwd?: string;
  /** Permission flags; the start task's by default. */
  flags?: string[];
  /** Arguments after main.ts. */
  args?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** The client's name in initialize ("claude-code" gets channel pushes); "e2e-test" by default. */
  clientName?: string;
}

/** `deno` arguments that run main.ts. */
export function serverArgs(options: SpawnOptions = {}): string[] {
  return ["run", ...(options.flags ?? startTaskFlags()), MAIN_TS, ...(options.args ?? [])];
}

/** Runs the CLI to completion (for --version, --validate-config …). */
export async function runCli(project: Project, options: SpawnOptions = {}) {
  return await runCommand(Deno.execPath(), serverArgs(options), {
    cwd: options.cwd ?? project.root,
    env: await childEnv(project.home, options.env),
    clearEnv: true,
  });
}

// ---------------------------------------------------------------------------
// Servers connected through the SDK client
// ---------------------------------------------------------------------------

/** A server process with a connected SDK Client. */
export interface McpSession {
  client: Client;
  /** Process id of the server. */
  pid: number;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Resolves when the server process has exited and its pipes closed. */
  exited: Promise<void>;
  /** Calls a tool. */
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** Reads a resource and parses its JSON text. */
  readJson(uri: string): Promise<unknown>;
  /** Closes stdin (a graceful client exit) and waits for the process to end. */
  close(): Promise<void>;
}

/** Starts the server and connects a Client to it over stdio. */
export async function connectServer(
  project: Project,
  options: SpawnOptions = {},
): Promise<McpSession> {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: serverArgs(options),
    cwd: options.cwd ?? project.root,
    env: await childEnv(project.home, options.env),
    stderr: "pipe",
  });
  let stderrText = "";
  const stderrDecoder = new TextDecoder();
  transport.stderr?.on("data", (chunk: Uint8Array | string) => {
    stderrText += typeof chunk === "string" ? chunk : stderrDecoder.decode(chunk, { stream: true });
  });
  const client = new Client({ name: options.clientName ?? "e2e-test", version: "0.0.0" });
  const { promise: exited, resolve: markExited } = Promise.withResolvers<void>();
  client.onclose = () => markExited();
  try {
    await client.connect(transport);
  } catch (err) {
    await client.close().catch(() => {});
    // A process that did start must be gone before we report the failure.
    await withTimeout(exited, 5_000, "server exit").catch(() => {});
    throw new Error(`could not connect to the server: ${err}\nstderr:\n${stderrText}`);
  }
  const pid = transport.pid;
  if (pid === null) throw new Error("the transport has no pid after connect");
  let closing: Promise<void> | null = null;
  return {
    client,
    pid,
    stderr: () => stderrText,
    exited,
    call: async (name, args = {}) =>
      await client.callTool({ name, arguments: args }) as CallToolResult,
    readJson: async (uri) => {
      const res = await client.readResource({ uri });
      const first = res.contents[0] as { text?: string } | undefined;
      if (typeof first?.text !== "string") throw new Error(`${uri} returned no text`);
      return JSON.parse(first.text);
    },
    close: () => {
      closing ??= (async () => {
        await client.close();
        await withTimeout(exited, 10_000, `server ${pid} to exit`);
      })();
      return closing;
    },
  };
}

/** Connects `count` servers at once; on any failure, closes those that started. */
export async function connectMany(
  project: Project,
  count: number,
  options: SpawnOptions = {},
): Promise<McpSession[]> {
  const settled = await Promise.allSettled(
    Array.from({ length: count }, () => connectServer(project, options)),
  );
  const ok = settled.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await closeAll(ok);
    throw failed.reason;
  }
  return ok;
}

/** Closes every session, even if some fail; rethrows the first failure. */
export async function closeAll(sessions: McpSession[]): Promise<void> {
  const results = await Promise.allSettled(sessions.map((s) => s.close()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** The structured result of a successful tool call; throws with the text otherwise. */
export function structured<T = Record<string, unknown>>(result: CallToolResult): T {
  if (result.isError) throw new Error(`tool call failed: ${toolText(result)}`);
  if (!result.structuredContent) throw new Error(`no structuredContent: ${toolText(result)}`);
  return result.structuredContent as T;
}

/** The text of a tool result's first content block. */
export function toolText(result: CallToolResult): string {
  const first = result.content?.[0] as { type?: string; text?: string } | undefined;
  return first?.type === "text" && typeof first.text === "string" ? first.text : "";
}

/** A tool error's code, message, hint and details, parsed from its JSON line. */
export interface ToolErrorBody {
  code: string;
  message: string;
  hint: string;
  details: Record<string, unknown>;
}

/** Asserts a tool result is an error and returns its text and parsed body. */
export function toolError(result: CallToolResult): { text: string; error: ToolErrorBody } {
  const text = toolText(result);
  if (result.isError !== true) throw new Error(`expected an error result, got: ${text}`);
  const json = text.slice(text.indexOf("\n") + 1);
  return { text, error: (JSON.parse(json) as { error: ToolErrorBody }).error };
}

// ---------------------------------------------------------------------------
// Raw servers: a child process driven line by line
// ---------------------------------------------------------------------------

/** A JSON-RPC message as read from stdout. */
// deno-lint-ignore no-explicit-any
export type RpcMessage = Record<string, any>;

/** A server child with piped stdin/stdout/stderr and a tiny JSON-RPC client. */
export class RawServer {
  readonly child: Deno.ChildProcess;
  /** Every stdout line so far, verbatim. */
  readonly lines: string[] = [];
  /** Exit status once the process has ended. */
  readonly status: Promise<Deno.CommandStatus>;
  #stderr = "";
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #stdinClosed = false;
  #readers: Promise<void>;
  #nextId = 1;
  #waiters = new Set<() => void>();
  #consumed = 0;
  #exitStatus: Deno.CommandStatus | null = null;

  private constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.#writer = child.stdin.getWriter();
    this.status = child.status.then((s) => (this.#exitStatus = s));
    this.#readers = Promise.all([this.#readStdout(), this.#readStderr()]).then(() => {});
  }

  /** Spawns the server with the given options (cwd = project root by default). */
  static async spawn(project: Project, options: SpawnOptions = {}): Promise<RawServer> {
    const child = new Deno.Command(Deno.execPath(), {
      args: serverArgs(options),
      cwd: options.cwd ?? project.root,
      env: await childEnv(project.home, options.env),
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new RawServer(child);
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid;
  }

  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.#exitStatus !== null;
  }

  async #readStdout() {
    let buffer = "";
    const textDecoder = new TextDecoder();
    for await (const chunk of this.child.stdout) {
      buffer += textDecoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf("\n")) !== -1) {
        this.lines.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
      this.#wake();
    }
    if (buffer !== "") this.lines.push(buffer);
    this.#wake();
  }

  async #readStderr() {
    const textDecoder = new TextDecoder();
    for await (const chunk of this.child.stderr) {
      this.#stderr += textDecoder.decode(chunk, { stream: true });
      this.#wake();
    }
  }

  #wake() {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Resolves when `check` holds, re-checked on every output; throws after `timeoutMs`. */
  async #waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}\nstdout:\n${
            this.lines.join("\n")
          }\nstderr:\n${this.#stderr}`,
        );
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiters.add(resolve);
      const timer = setTimeout(resolve, Math.min(left, 200));
      // Output that ends (process exit) wakes us too; then the next check decides.
      await promise;
      clearTimeout(timer);
      this.#waiters.delete(resolve);
    }
  }

  /** Writes raw text to stdin. */
  async write(text: string): Promise<void> {
    await this.#writer.write(encoder.encode(text));
  }

  /** Writes one JSON message and a newline. */
  async send(message: RpcMessage): Promise<void> {
    await this.write(JSON.stringify(message) + "\n");
  }

  /** Sends a request and waits for the response with its id. */
  async request(method: string, params: RpcMessage = {}, timeoutMs = 10_000) {
    const id = this.#nextId++;
    await this.send({ jsonrpc: "2.0", id, method, params });
    return await this.#waitFor(`the response to ${method} (id ${id})`, () => {
      for (const line of this.lines) {
        let msg: RpcMessage;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.id === id && !("method" in msg)) return msg;
      }
      return undefined;
    }, timeoutMs);
  }

  /** The next stdout message not yet taken by nextMessage, in order. */
  async nextMessage(timeoutMs = 10_000): Promise<RpcMessage> {
    const line = await this.#waitFor(
      "the next stdout line",
      () => this.#consumed < this.lines.length ? this.lines[this.#consumed] : undefined,
      timeoutMs,
    );
    this.#consumed++;
    return JSON.parse(line);
  }

  /** Waits until stderr contains `text`. */
  async waitForStderr(text: string, timeoutMs = 10_000): Promise<void> {
    await this.#waitFor(
      `stderr to contain ${JSON.stringify(text)}`,
      () => this.#stderr.includes(text) ? true : undefined,
      timeoutMs,
    );
  }

  /** initialize + notifications/initialized; returns the initialize result. */
  async initialize(): Promise<RpcMessage> {
    const res = await this.request("initialize", {
      protocolVersion: LATEST_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: "raw-e2e-test", version: "0.0.0" },
    });
    if (res.error) throw new Error(`initialize failed: ${JSON.stringify(res.error)}`);
    await this.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    return res.result;
  }

  /** Calls a tool and returns its result. */
  async callTool(name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
    const res = await this.request("tools/call", { name, arguments: args });
    if (res.error) throw new Error(`tools/call ${name} failed: ${JSON.stringify(res.error)}`);
    return res.result as CallToolResult;
  }

  /** Closes stdin (end of input for the server). */
  async closeStdin(): Promise<void> {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    await this.#writer.close().catch(() => {});
  }

  /** Sends a signal to the process. */
  kill(signal: Deno.Signal): void {
    this.child.kill(signal);
  }

  /** Waits for the exit (SIGKILL after `timeoutMs`), and for both pipes to drain. */
  async stop(timeoutMs = 10_000): Promise<Deno.CommandStatus> {
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    const status = await this.status;
    clearTimeout(timer);
    if (!this.#stdinClosed) {
      this.#stdinClosed = true;
      await this.#writer.abort().catch(() => {});
    }
    await this.#readers;
    return status;
  }

  /** Kills the process (if still running) and waits for everything to end. */
  async dispose(): Promise<void> {
    if (!this.hasExited) {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    await this.stop();
  }
}

/** Spawns a raw server and runs `fn`; the process is killed and awaited afterwards. */
export async function withRawServer<T>(
  project: Project,
  fn: (server: RawServer) => Promise<T>,
  options: SpawnOptions = {},
): Promise<T> {
  const server = await RawServer.spawn(project, options);
  try {
    return await fn(server);
  } finally {
    await server.dispose();
  }
}
