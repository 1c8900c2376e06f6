/**
 * Helpers for tests/fault_injection_test.ts and tests/fuzz_test.ts: a real
 * server process (`main.ts`) driven over its stdin/stdout with raw JSON-RPC
 * lines, a temp project to run it in, and a seeded PRNG.
 *
 * Raw lines rather than the SDK Client: the fuzz test must send bytes the
 * SDK would never produce, and the writer loops are simpler and faster
 * without a client-side schema check on every answer.
 */
import { ERROR_HINTS, type ErrorCode } from "../src/core/errors.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeRepo } from "./_git_fixture.ts";

/** main.ts of this checkout. */
export const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
/** deno.json of this checkout, so a child started in a temp dir resolves "zod" and the SDK. */
const DENO_CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
/** The permissions of `deno task start`, so a missing permission shows up here too. */
const SERVER_PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run=git",
  "--allow-sys=hostname",
];

/** The stable error codes of src/core/errors.ts, for matching result texts. */
export const ERROR_CODES = Object.keys(ERROR_HINTS) as ErrorCode[];

/** One JSON-RPC message as read from the server. */
export interface RpcMessage {
  jsonrpc?: string;
  id?: string | number | null;
  method?: string;
  params?: unknown;
  result?: ToolCallResult & Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

/** The parts of a tools/call result the tests read. */
export interface ToolCallResult {
  isError?: boolean;
  content?: Array<{ type: string; text?: string }>;
  structuredContent?: Record<string, unknown>;
}

/** mulberry32: a small seeded PRNG; the same seed gives the same sequence. */
export function createRng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    /** A float in [0, 1). */
    next,
    /** An integer in [min, max]. */
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    /** One element of a non-empty array. */
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)],
    /** True with probability p. */
    chance: (p: number) => next() < p,
  };
}

/** The PRNG type. */
export type Rng = ReturnType<typeof createRng>;

/** The seed from `envVar`, or a fresh random one. */
export function seedFrom(envVar: string): number {
  const given = Deno.env.get(envVar);
  if (given !== undefined && given !== "") {
    const n = Number(given);
    if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) {
      throw new Error(`${envVar}=${given} is not an integer in 0..4294967295`);
    }
    return n;
  }
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** A temp project: a git repo with a config file next to it (outside the repo). */
export interface TempProject {
  /** Parent dir holding everything; removed by the caller. */
  root: string;
  repo: string;
  configPath: string;
  /** The repo's state directory (the local adapter's default). */
  stateDir: string;
}

/**
 * Creates `<root>/<name>` as a git repo and `<root>/<name>.config.json` with
 * the given session settings. The state dir is the default one in the repo.
 */
export async function makeProject(
  root: string,
  name: string,
  session: Record<string, unknown>,
): Promise<TempProject> {
  const repo = await makeRepo(join(root, name));
  const configPath = join(root, `${name}.config.json`);
  await Deno.writeTextFile(configPath, JSON.stringify({ session }) + "\n");
  return { root, repo, configPath, stateDir: join(repo, ".claude", "session-state") };
}

/** A running server process with a raw JSON-RPC line client. */
export interface ServerProcess {
  readonly pid: number;
  readonly child: Deno.ChildProcess;
  /** Resolves with the exit status (the process is always awaited here). */
  readonly status: Promise<Deno.CommandStatus>;
  /** True once the process has exited. */
  exited(): boolean;
  /** Sends a request and resolves with its response; rejects on timeout or exit. */
  request(method: string, params?: unknown, timeoutMs?: number): Promise<RpcMessage>;
  /** tools/call, resolving with the whole response message. */
  callTool(name: string, args: unknown, timeoutMs?: number): Promise<RpcMessage>;
  /** tools/call with the arguments given as JSON text (or undefined to leave them out). */
  callToolText(name: string, argsText: string | undefined, timeoutMs?: number): Promise<RpcMessage>;
  /**
   * Writes one raw line (a newline is appended) and, when `expectId` is not
   * undefined, resolves with the next message carrying that id (null for
   * errors about lines without a usable id).
   */
  sendRaw(
    line: string | Uint8Array,
    expectId?: string | number | null,
    timeoutMs?: number,
  ): Promise<
    RpcMessage | undefined
  >;
  /** A fresh request id, for raw lines that want an answer. */
  nextId(): number;
  /** initialize + notifications/initialized. */
  initialize(): Promise<RpcMessage>;
  /** Ends stdin and waits for a clean exit; SIGKILLs after `timeoutMs`. */
  close(timeoutMs?: number): Promise<Deno.CommandStatus>;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<Deno.CommandStatus>;
  /** What the server wrote to stderr so far (the last 20,000 characters). */
  stderr(): string;
  /** stdout lines that were not JSON (stdout must carry JSON-RPC only). */
  readonly junk: string[];
  /** Takes the answers nobody waited for (e.g. a reply to a line that should get none). */
  takeUnclaimed(): RpcMessage[];
}

/** Spawns `main.ts --config <configPath>` in `cwd`. */
export function spawnServer(options: { cwd: string; configPath: string }): ServerProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${DENO_CONFIG}`,
      ...SERVER_PERMISSIONS,
      MAIN,
      "--config",
      options.configPath,
    ],
    cwd: options.cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  const encoder = new TextEncoder();
  const stdin = child.stdin.getWriter();
  let writeChain: Promise<void> = Promise.resolve();
  let stdinClosed = false;
  let exitStatus: Deno.CommandStatus | null = null;
  let errText = "";
  const junk: string[] = [];
  let idCounter = 0;

  // Waiters for a message with a given id (JSON.stringify(id) as the key, so
  // 1 and "1" differ); messages nobody waits for yet are kept in arrival order.
  const waiters = new Map<string, Array<(m: RpcMessage) => void>>();
  const unclaimed: RpcMessage[] = [];
  const exitListeners = new Set<(why: Error) => void>();

  function deliver(msg: RpcMessage) {
    if (!("id" in msg) || msg.method !== undefined) return; // notifications, server requests
    const key = JSON.stringify(msg.id ?? null);
    const list = waiters.get(key);
    if (list && list.length > 0) {
      list.shift()!(msg);
      if (list.length === 0) waiters.delete(key);
    } else {
      unclaimed.push(msg);
    }
  }

  const stdoutDone = (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of child.stdout) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim() === "") continue;
        try {
          deliver(JSON.parse(line));
        } catch {
          junk.push(line.slice(0, 500));
        }
      }
    }
    if (buffer.trim() !== "") junk.push(buffer.slice(0, 500));
  })();
  const stderrDone = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      errText += decoder.decode(chunk, { stream: true });
      if (errText.length > 40_000) errText = errText.slice(-20_000);
    }
  })();
  const status = (async () => {
    const s = await child.status;
    exitStatus = s;
    await Promise.all([stdoutDone, stderrDone]).catch(() => {});
    await stdin.close().catch(() => {});
    const why = new Error(
      `server pid ${child.pid} exited (code ${s.code}, signal ${s.signal}); stderr:\n${
        errText.slice(-3000)
      }`,
    );
    for (const fail of exitListeners) fail(why);
    return s;
  })();

  function write(bytes: Uint8Array): Promise<void> {
    writeChain = writeChain.then(async () => {
      if (stdinClosed || exitStatus !== null) throw new Error("server stdin is closed");
      await stdin.write(bytes);
    });
    return writeChain;
  }

  function waitFor(id: string | number | null, timeoutMs: number, what: string) {
    const key = JSON.stringify(id);
    const early = unclaimed.findIndex((m) => JSON.stringify(m.id ?? null) === key);
    if (early >= 0) return Promise.resolve(unclaimed.splice(early, 1)[0]);
    return new Promise<RpcMessage>((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        exitListeners.delete(onExit);
        fn();
      };
      const onMessage = (m: RpcMessage) => finish(() => resolve(m));
      const onExit = (why: Error) => finish(() => reject(why));
      const timer = setTimeout(() => {
        const list = waiters.get(key);
        if (list) {
          const at = list.indexOf(onMessage);
          if (at >= 0) list.splice(at, 1);
          if (list.length === 0) waiters.delete(key);
        }
        finish(() =>
          reject(
            new Error(`no answer to ${what} within ${timeoutMs} ms (server pid ${child.pid})`),
          )
        );
      }, timeoutMs);
      exitListeners.add(onExit);
      if (exitStatus !== null) {
        onExit(new Error(`server pid ${child.pid} already exited (code ${exitStatus.code})`));
        return;
      }
      const list = waiters.get(key) ?? [];
      list.push(onMessage);
      waiters.set(key, list);
    });
  }

  async function sendRequest(method: string, paramsText: string | undefined, timeoutMs: number) {
    const id = ++idCounter;
    const params = paramsText === undefined ? "" : `,"params":${paramsText}`;
    const line = `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)}${params}}\n`;
    const answer = waitFor(id, timeoutMs, `${method} #${id}`);
    answer.catch(() => {}); // rejected while the write is awaited: read below
    await write(encoder.encode(line)).catch(() => {});
    return await answer;
  }

  const server: ServerProcess = {
    pid: child.pid,
    child,
    status,
    exited: () => exitStatus !== null,
    junk,
    takeUnclaimed: () => unclaimed.splice(0),
    nextId: () => ++idCounter,
    request(method, params, timeoutMs = 15_000) {
      return sendRequest(
        method,
        params === undefined ? undefined : JSON.stringify(params),
        timeoutMs,
      );
    },
    callTool(name, args, timeoutMs) {
      return server.request("tools/call", { name, arguments: args }, timeoutMs);
    },
    callToolText(name, argsText, timeoutMs = 15_000) {
      const args = argsText === undefined ? "" : `,"arguments":${argsText}`;
      return sendRequest("tools/call", `{"name":${JSON.stringify(name)}${args}}`, timeoutMs);
    },
    async sendRaw(line, expectId, timeoutMs = 15_000) {
      const bytes = typeof line === "string" ? encoder.encode(line) : line;
      const framed = new Uint8Array(bytes.length + 1);
      framed.set(bytes);
      framed[bytes.length] = 10;
      const answer = expectId === undefined
        ? undefined
        : waitFor(expectId, timeoutMs, `raw line ${new TextDecoder().decode(bytes.slice(0, 80))}`);
      answer?.catch(() => {}); // rejected while the write is awaited: read below
      await write(framed).catch(() => {});
      return answer === undefined ? undefined : await answer;
    },
    async initialize() {
      const res = await server.request("initialize", {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "fault-tests", version: "1.0.0" },
      });
      if (!res.result) throw new Error(`initialize failed: ${JSON.stringify(res)}`);
      await write(
        encoder.encode(
          JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) + "\n",
        ),
      );
      return res;
    },
    async close(timeoutMs = 10_000) {
      if (exitStatus === null && !stdinClosed) {
        stdinClosed = true;
        await writeChain.catch(() => {});
        await stdin.close().catch(() => {});
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, timeoutMs);
      try {
        return await status;
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      if (exitStatus === null) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      return await status;
    },
    stderr: () => errText,
  };
  return server;
}

/** The text of a tool result's first content item ("" when absent). */
export function resultText(msg: RpcMessage): string {
  return msg.result?.content?.[0]?.text ?? "";
}

/** The error code a failed tool call's text starts with, or null when it is no coded error. */
export function resultCode(msg: RpcMessage): string | null {
  if (!msg.result?.isError) return null;
  const code = /^([A-Z_]+): /.exec(resultText(msg))?.[1] ?? null;
  return code !== null && (ERROR_CODES as readonly string[]).includes(code) ? code : null;
}

/** The structured content of a successful call; throws with the text otherwise. */
export function okResult(msg: RpcMessage, what = "call"): Record<string, unknown> {
  if (!msg.result || msg.result.isError || !msg.result.structuredContent) {
    throw new Error(`${what}: expected success, got ${JSON.stringify(msg).slice(0, 1000)}`);
  }
  return msg.result.structuredContent;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
