/**
 * What only this server does, measured per adapter row (the peer has no
 * equivalent, so its column is n/a): the size of tools/list (agents pay for
 * it on every turn), the work board at 100, 1,000 and 10,000 tasks
 * (claim_task next-ready and list_tasks ready), the wall time of 8 agents
 * working a 40-task backlog, the latency from a write in one process to the
 * resource notification in another, and the CPU of servers that sit idle
 * with a subscription.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { join } from "node:path";
import { createBinding } from "../src/core/session/mod.ts";
import { signOn } from "../src/core/session/mod.ts";
import { postTask } from "../src/core/board/tasks.ts";
import { openContext, resolveSetup } from "../src/setup/runtime.ts";
import { builtinRegistry } from "../src/storage/builtin.ts";
import { readWorkTree } from "../src/setup/git.ts";
import { latency } from "./_stats.ts";
import { makeGitRepo, sleep, type TempDirs } from "./_setup.ts";
import { oursCommand, type OursOptions } from "./_subjects.ts";

/** Sizes of the coordination phase. */
export interface CoordinationParams {
  boardSizes: number[];
  boardCalls: number;
  liveTrials: number;
  idleSeconds: number;
}

/** The defaults: boards of 100/1,000/10,000 tasks, 30 calls each, 30 notification trials. */
export const DEFAULT_COORDINATION: CoordinationParams = {
  boardSizes: [100, 1000, 10000],
  boardCalls: 30,
  liveTrials: 30,
  idleSeconds: 10,
};

type Latency = ReturnType<typeof latency>;

/** Everything measured. */
export interface CoordinationResult {
  tools_list_bytes: number;
  tools: number;
  claim: Record<string, Latency>;
  list_ready: Record<string, Latency>;
  backlog_seconds: number;
  notify: Latency;
  idle_subscribed_cpu_ms_per_s: number | null;
  idle_eight_cpu_ms_per_s: number | null;
}

interface Peer {
  client: Client;
  pid: number;
  call(name: string, args?: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

async function open(o: OursOptions, repo: string, configPath: string): Promise<Peer> {
  const cmd = oursCommand({ ...o, repo, configPath });
  const transport = new StdioClientTransport({ ...cmd, stderr: "ignore" });
  const client = new Client({ name: "bench-coordination", version: "1.0.0" });
  await client.connect(transport);
  const pid = transport.pid!;
  return {
    client,
    pid,
    async call(name, args = {}) {
      const res = await client.callTool({ name, arguments: args }) as {
        isError?: boolean;
        content: { text: string }[];
        structuredContent?: Record<string, unknown>;
      };
      if (res.isError) throw new Error(`${name}: ${res.content[0]?.text}`);
      return res.structuredContent ?? {};
    },
    close: () => client.close(),
  };
}

/** CPU ms (user + system) of a process so far, from /proc; null where there is none. */
async function cpuMs(pid: number): Promise<number | null> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

/** A fresh project for one measurement: a repo (its name is the project id) and the row's config. */
async function project(o: OursOptions, temps: TempDirs, name: string) {
  const repo = join(await temps.make(name), name);
  await Deno.mkdir(repo);
  await makeGitRepo(repo);
  const state = await temps.make(`${name}-state`);
  const config = structuredClone(o.config) as { storage: { config?: Record<string, unknown> } };
  if (config.storage.config && "base_path" in config.storage.config) {
    config.storage.config.base_path = state;
  }
  const configPath = join(repo, "bench-config.json");
  await Deno.writeTextFile(configPath, JSON.stringify(config));
  return { repo, configPath };
}

/** Posts `n` ready tasks in process (the domain's own post_task), as one session. */
async function prefillBoard(repo: string, configPath: string, home: string, n: number) {
  const options = {
    configPath,
    cwd: repo,
    env: () => undefined,
    homeDir: home,
    registry: builtinRegistry(),
  };
  const ctx = await openContext(await resolveSetup(options), options);
  try {
    const binding = createBinding({ pid: Deno.pid, client: "bench" }, () => readWorkTree(repo));
    await signOn(ctx, binding);
    for (let i = 0; i < n; i++) {
      await postTask(ctx, binding, { title: `task ${i}`, taskId: `t${i}`, priority: i % 7 });
    }
  } finally {
    await ctx.audit?.flush();
    await ctx.storage.close();
  }
}

async function timed(n: number, fn: () => Promise<unknown>): Promise<Latency> {
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) await fn();
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return latency(samples);
}

/** The 40-task backlog of the board tests: 10 roots, 20 on one root, 10 joining two. */
function backlog(): { id: string; deps: string[] }[] {
  const tasks: { id: string; deps: string[] }[] = [];
  for (let i = 0; i < 10; i++) tasks.push({ id: `root-${i}`, deps: [] });
  for (let i = 0; i < 20; i++) tasks.push({ id: `mid-${i}`, deps: [`root-${i % 10}`] });
  for (let i = 0; i < 10; i++) tasks.push({ id: `join-${i}`, deps: [`mid-${i}`, `mid-${i + 10}`] });
  return tasks;
}

async function backlogRun(peers: Peer[]): Promise<number> {
  for (const t of backlog()) {
    await peers[0].call("post_task", { task_id: t.id, title: t.id, depends_on: t.deps });
  }
  const start = performance.now();
  await Promise.all(peers.map(async (p) => {
    for (;;) {
      const res = await p.call("claim_task", {});
      const task = res.task as { task_id: string } | null;
      if (task === null) {
        if (res.blocked === 0 && res.in_progress === 0) return;
        await sleep(20);
        continue;
      }
      await p.call("update_task", { task_id: task.task_id, note: "working" });
      await p.call("update_task", {
        task_id: task.task_id,
        status: "done",
        fencing_token: res.fencing_token,
      });
    }
  }));
  return (performance.now() - start) / 1000;
}

/** Runs the coordination phase for one adapter row. */
export async function measureCoordination(
  o: OursOptions,
  p: CoordinationParams,
  temps: TempDirs,
  log: (line: string) => void,
): Promise<CoordinationResult> {
  const claim: Record<string, Latency> = {};
  const listReady: Record<string, Latency> = {};
  let toolsListBytes = 0, tools = 0;
  for (const n of p.boardSizes) {
    log(`[${o.label}] board: ${n} tasks, ${p.boardCalls} claims and list_tasks`);
    const { repo, configPath } = await project(o, temps, `board${n}`);
    await prefillBoard(repo, configPath, o.home, n);
    const peer = await open(o, repo, configPath);
    try {
      if (toolsListBytes === 0) {
        const listed = await peer.client.listTools();
        toolsListBytes = new TextEncoder().encode(JSON.stringify(listed)).length;
        tools = listed.tools.length;
      }
      await peer.call("sign_on");
      listReady[String(n)] = await timed(
        p.boardCalls,
        () => peer.call("list_tasks", { status: "ready", limit: 100 }),
      );
      claim[String(n)] = await timed(p.boardCalls, () => peer.call("claim_task", {}));
    } finally {
      await peer.close();
    }
  }

  log(`[${o.label}] 8 agents work a 40-task backlog`);
  const b = await project(o, temps, "backlog");
  const agents = await Promise.all(Array.from({ length: 8 }, () => open(o, b.repo, b.configPath)));
  let backlogSeconds: number;
  try {
    for (const a of agents) await a.call("sign_on");
    backlogSeconds = await backlogRun(agents);
  } finally {
    await Promise.all(agents.map((a) => a.close()));
  }

  log(`[${o.label}] live: write in one process → notification in another, then idle CPU`);
  const l = await project(o, temps, "live");
  const [a, writer] = await Promise.all([
    open(o, l.repo, l.configPath),
    open(o, l.repo, l.configPath),
  ]);
  let notify: Latency;
  let idleOne: number | null = null, idleEight: number | null = null;
  try {
    await a.call("sign_on");
    await writer.call("sign_on");
    let heard: (() => void) | null = null;
    a.client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => {
      heard?.();
      return Promise.resolve();
    });
    await a.client.subscribeResource({ uri: "session://context" });
    const samples: number[] = [];
    for (let i = 0; i < p.liveTrials; i++) {
      await sleep(300); // past the 250 ms coalescing window: every write notifies at once
      const got = new Promise<void>((resolve) => heard = resolve);
      const start = performance.now();
      await writer.call("store_data", { scope: "@project:live", key: "k", value: i });
      await got;
      samples.push(performance.now() - start);
    }
    heard = null;
    notify = latency(samples);
    // Idle: a subscribed server, and eight servers, doing nothing for a while.
    const others = await Promise.all(
      Array.from({ length: 6 }, () => open(o, l.repo, l.configPath)),
    );
    try {
      for (const s of others) await s.call("sign_on");
      await sleep(1000);
      const all = [a, writer, ...others];
      const before = await Promise.all(all.map((s) => cpuMs(s.pid)));
      await sleep(p.idleSeconds * 1000);
      const after = await Promise.all(all.map((s) => cpuMs(s.pid)));
      if (before.every((v) => v !== null) && after.every((v) => v !== null)) {
        idleOne = (after[0]! - before[0]!) / p.idleSeconds;
        idleEight = after.reduce((sum, v, i) => sum + v! - before[i]!, 0) / p.idleSeconds;
      }
    } finally {
      await Promise.all(others.map((s) => s.close()));
    }
  } finally {
    await Promise.all([a.close(), writer.close()]);
  }
  return {
    tools_list_bytes: toolsListBytes,
    tools,
    claim,
    list_ready: listReady,
    backlog_seconds: backlogSeconds,
    notify,
    idle_subscribed_cpu_ms_per_s: idleOne,
    idle_eight_cpu_ms_per_s: idleEight,
  };
}
