/**
 * A busy board for the dashboard's screenshot: 10 sessions on 3 machines
 * working a backlog of about 200 tasks with dependencies, through the real
 * MCP tools (so the audit log is real too), on a local store in a temp
 * directory. Some
 * tasks were retried after a session left, one is stuck, sessions left
 * handoffs, reservations and messages are in flight.
 *
 * The store's clock is set back while the board is built: the stuck task's
 * claim is made 45 minutes "ago", which the adapter's injectable clock allows.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createAuditSink, DEFAULT_AUDIT } from "../src/core/audit.ts";
import { realScheduler, type ServerContext } from "../src/core/context.ts";
import { createMcpServer } from "../src/mcp/server.ts";
import { openSession } from "../src/transport/lifecycle.ts";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import type { StorageAdapter } from "../src/storage/contract.ts";

/** The project the board belongs to. */
export const BUSY_PROJECT = "acme/widget";

/** A session connected through the real tools. */
interface Agent {
  call(tool: string, args?: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** The busy board: its store and a context to serve the dashboard from. */
export interface BusyBoard {
  ctx: ServerContext;
  close(): Promise<void>;
}

const MACHINES = [
  {
    machine: "ann-laptop",
    user: "ann",
    branches: ["feat/auth-flow", "feat/billing", "fix/session-leak", "docs/api"],
  },
  {
    machine: "build-box",
    user: "ci",
    branches: ["feat/search", "refactor/storage", "feat/exports"],
  },
  { machine: "dev-vm-2", user: "bob", branches: ["feat/notifications", "perf/cache", "main"] },
];

const FEATURES = [
  "Login with SSO",
  "Billing portal",
  "Search index",
  "CSV exports",
  "Notification center",
  "Audit trail",
  "Rate limiting",
  "Team invites",
  "Usage dashboard",
  "Webhook retries",
  "Dark mode",
  "Storage migration",
  "Session timeouts",
  "API keys",
  "Offline mode",
];
const STEPS = [
  "design note",
  "schema",
  "API endpoints",
  "UI",
  "telemetry",
  "integration tests",
  "error handling",
  "load test",
  "docs",
  "review and ship",
  "feature flag",
  "data backfill",
  "migration rollback",
  "copy polish",
];

/** Step s depends on these earlier steps of its feature: fans out after the API, joins at the end. */
const DEPENDS: number[][] = [[], [0], [1], [1], [2, 3], [4], [4], [4], [5, 6], [7], [8, 9], [10], [
  4,
], [12]];

/** Chores without dependencies. */
const CHORES = [
  "Bump the Deno toolchain",
  "Fix the flaky login e2e test",
  "Rotate staging credentials",
  "Clean up unused feature flags",
  "Triage the bug inbox",
];

function hex(n: number): string {
  return [...crypto.getRandomValues(new Uint8Array(n))].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

async function connectAgent(
  storage: StorageAdapter,
  machine: string,
  worktree: { path: string; branch: string },
  leaseTtlSeconds: number,
): Promise<Agent> {
  const identity = { machine, project: BUSY_PROJECT };
  const ctx: ServerContext = {
    storage,
    identity,
    leaseTtlSeconds,
    scheduler: realScheduler,
    audit: createAuditSink(storage, identity, DEFAULT_AUDIT, () => {}),
  };
  const session = openSession(ctx, {
    holder: { pid: 20_000 + Math.floor(Math.random() * 40_000), client: null },
    workTree: () => Promise.resolve({ ...worktree, head: hex(20) }),
    log: () => {},
  });
  const server = createMcpServer(ctx, session.binding, { version: "screenshot", log: () => {} });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "claude-code", version: "2.1.80" });
  await client.connect(clientSide);
  return {
    async call(tool, args = {}) {
      const res = await client.callTool({ name: tool, arguments: args }) as CallToolResult;
      if (res.isError) {
        throw new Error(`${tool}: ${(res.content[0] as { text?: string })?.text}`);
      }
      return (res.structuredContent ?? {}) as Record<string, unknown>;
    },
    async close() {
      await session.close("done");
      await client.close();
      await server.close();
      await ctx.audit?.flush();
    },
  };
}

/** Builds the busy board; close() ends every session and removes the store. */
export async function buildBusyBoard(): Promise<BusyBoard> {
  const offset = { ms: 0 };
  const dir = await Deno.makeTempDir({ prefix: "csc-busy-board-" });
  const agents: Agent[] = [];
  const close = async () => {
    for (const a of agents) await a.close().catch(() => {});
    await storage?.close();
    await Deno.remove(dir, { recursive: true });
  };
  let storage: StorageAdapter | undefined;
  try {
    storage = await createFileAdapter({
      basePath: dir,
      limits: { maxValueBytes: 1024 * 1024 },
      now: () => Date.now() + offset.ms,
    });
    await populate(storage, agents, offset);
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
  return {
    ctx: {
      storage,
      identity: { machine: "ann-laptop", project: BUSY_PROJECT },
      leaseTtlSeconds: 60,
      scheduler: realScheduler,
    },
    close,
  };
}

/** Works the backlog: sessions that came and went, and ten at work now (left in `agents`). */
async function populate(
  storage: StorageAdapter,
  agents: Agent[],
  offset: { ms: number },
): Promise<void> {
  const worktree = (m: (typeof MACHINES)[number], branch: string) => ({
    path: `/home/${m.user}/src/widget-${branch.replace(/[^a-z0-9]+/g, "-")}`,
    branch,
  });

  // The backlog: each feature a small graph (design → schema → API → UI …).
  offset.ms = -3 * 3600_000;
  const planner = await connectAgent(storage, "ann-laptop", worktree(MACHINES[0], "main"), 60);
  await planner.call("sign_on", { session_id: "planner" });
  const featureTasks: string[][] = [];
  let n = 0;
  for (const [f, feature] of FEATURES.entries()) {
    const ids: string[] = [];
    const steps = STEPS.slice(0, 12 + (f % 3));
    for (const [s, step] of steps.entries()) {
      const id = `t${String(++n).padStart(3, "0")}`;
      const deps = s === 0
        ? (f > 0 && f % 4 === 0 ? [featureTasks[f - 1][0]] : [])
        : [ids[DEPENDS[s][0]], ...DEPENDS[s].slice(1).map((d) => ids[d])];
      await planner.call("post_task", {
        task_id: id,
        title: `${feature}: ${step}`,
        depends_on: deps,
        priority: s === 0 ? 5 : f < 3 ? 2 : 0,
        labels: [feature.split(" ")[0].toLowerCase(), ...(s === 5 ? ["tests"] : [])],
      });
      ids.push(id);
    }
    featureTasks.push(ids);
  }
  for (const [i, title] of CHORES.entries()) {
    await planner.call("post_task", { task_id: `c${i + 1}`, title, labels: ["chore"] });
  }
  await planner.call("sign_off", { summary: "Posted the Q3 backlog", next_steps: [] });
  await planner.close();

  // Earlier sessions: finished most of the first features, and left handoffs.
  offset.ms = -2 * 3600_000;
  const early: Agent[] = [];
  for (let i = 0; i < 3; i++) {
    const m = MACHINES[i];
    const a = await connectAgent(storage, m.machine, worktree(m, m.branches[0]), 60);
    await a.call("sign_on");
    early.push(a);
  }
  const finish = async (a: Agent, count: number) => {
    for (let i = 0; i < count; i++) {
      const got = await a.call("claim_task");
      const task = got.task as { task_id: string } | null;
      if (!task) return;
      await a.call("update_task", { task_id: task.task_id, status: "done" });
    }
  };
  for (let round = 0; round < 26; round++) await finish(early[round % 3], 3);
  // Claims left behind by sessions that ended: retried later.
  const left: string[] = [];
  for (const a of early.slice(0, 2)) {
    left.push(((await a.call("claim_task")).task as { task_id: string }).task_id);
  }
  await early[0].call("sign_off", {
    summary: "Auth flow: SSO callback done; token refresh still flaky under load",
    next_steps: ["reproduce the refresh race", "add a retry budget"],
  });
  await early[1].call("sign_off", {
    summary: "Billing: invoices render, tax rules for EU pending",
    next_steps: ["EU VAT table", "PDF footer"],
  });
  await early[2].call("sign_off", {
    summary: "Search index backfill ran to 80%, resumable from the cursor in notes",
    next_steps: ["resume backfill"],
  });
  for (const a of early) await a.close();

  // A claim made 45 minutes ago that is still held: stuck.
  offset.ms = -45 * 60_000;
  const stuck = await connectAgent(storage, "dev-vm-2", worktree(MACHINES[2], "perf/cache"), 7200);
  await stuck.call("sign_on", { session_id: "claude_7" });
  const open = (await stuck.call("list_tasks", { status: "ready", limit: 100 })).tasks as {
    task_id: string;
  }[];
  const feature = open.filter((t) => t.task_id.startsWith("t"));
  await stuck.call("claim_task", { task_id: feature[feature.length - 1].task_id });
  agents.push(stuck);

  // Now: ten sessions at work.
  offset.ms = 0;
  for (const m of MACHINES) {
    for (const branch of m.branches) {
      if (m.machine === "dev-vm-2" && branch === "perf/cache") continue;
      const a = await connectAgent(storage, m.machine, worktree(m, branch), 60);
      await a.call("sign_on");
      agents.push(a);
    }
  }
  for (const [i, id] of left.entries()) await agents[8 + i].call("claim_task", { task_id: id });
  for (let i = 0; i < 12; i++) await finish(agents[1 + (i % 7)], 1);
  // One task fails, and most sessions hold one now (two stay idle).
  const failer = agents[3];
  const failed = (await failer.call("claim_task")).task as { task_id: string };
  await failer.call("update_task", { task_id: failed.task_id, status: "failed", note: "flaky CI" });
  for (const a of agents.slice(1, 6)) await a.call("claim_task");
  // A session that stopped halfway: its task is open again, and its handoff waits.
  const quitter = await connectAgent(
    storage,
    "build-box",
    worktree(MACHINES[1], "feat/exports"),
    60,
  );
  await quitter.call("sign_on", { session_id: "claude_11" });
  await quitter.call("claim_task");
  await quitter.call("sign_off", {
    summary: "Started the CSV export streaming; stopped for the day, nothing pushed yet",
    next_steps: ["finish the chunked writer"],
  });
  await quitter.close();

  const reserve = [
    [1, ["src/auth/**"], "token refresh rewrite"],
    [2, ["src/billing/invoice.ts", "src/billing/tax/*.ts"], "EU VAT rules"],
    [4, ["src/search/indexer.ts"], null],
    [5, ["src/storage/**"], "moving to the new adapter API"],
    [6, ["docs/api.md"], "shared while the API settles"],
    [7, ["src/notify/**", "templates/email/*.html"], "digest emails"],
    [0, ["src/cache/lru.ts"], "perf work"],
  ] as const;
  for (const [i, paths, reason] of reserve) {
    await agents[i].call("reserve_paths", {
      paths,
      ...(reason ? { reason } : {}),
      exclusive: i !== 6,
    });
  }
  const messages = [
    [
      1,
      "claude_4",
      "Heads-up on storage",
      "I'm moving the adapters; hold off on src/storage for ~30m.",
    ],
    [
      4,
      "all",
      "Search index is live",
      "Backfill finished. Queries now hit the new index; ping me if anything looks off.",
    ],
    [
      2,
      "claude_6",
      "Invoice PDF footer",
      "Can you take the footer copy? Legal sent the text in #billing.",
    ],
    [6, "claude_2", "Re: Invoice PDF footer", "On it after the docs pass."],
    [
      7,
      "all",
      "CI is flaky",
      "Integration tests on build-box time out at random; rerun before you mark a task failed.",
    ],
  ] as const;
  for (const [i, to, subject, body] of messages) {
    await agents[i].call("send_message", { to, subject, body });
  }
  await Promise.all(agents.map((a) => a.call("list_tasks", { limit: 1 })));
}
