/**
 * The dashboard end to end: `main.ts dashboard` as a real process, real
 * MCP servers as other processes, and Debian's chromium driven by
 * playwright-core. A session signing on, a task posted, claimed and done,
 * and a reservation each appear on the page within 1 s of the tool call
 * returning, without a reload; on the local store and on Redis, where two
 * projects share one server and the picker switches between them. A wrong
 * token gets 401, a foreign Origin or Host 403; a non-loopback address
 * without a token and a taken port are refused at start-up.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { withChromium } from "../scripts/_chromium.ts";
import {
  connectServer,
  createProject,
  type McpSession,
  type Project,
  removeProject,
  runCli,
  structured,
} from "./_stdio_harness.ts";
import { freePort, skipRedisTests, startRedisServer } from "./_redis_server.ts";
import {
  dashboardFlags,
  type DashboardProcess,
  rawGet,
  skipBrowserTests,
  startDashboardProcess,
  stopSession,
} from "./_dashboard_process.ts";

const ignore = skipBrowserTests();
/** The page must show a change this soon after the tool call returned. */
const LIVE_MS = 1000;
/** How long a wait may run before it fails (the assertion on LIVE_MS decides). */
const WAIT_MS = 10_000;
const TOKEN = "e2e-dashboard-token-0123456789";

/** Latencies measured by this file, printed at the end of each test. */
type Timings = Record<string, number>;

/**
 * Runs `action` (a tool call), then waits for `selector` on the page and
 * records how long after the call returned it appeared.
 */
async function timed(
  page: Page,
  timings: Timings,
  what: string,
  action: () => Promise<unknown>,
  selector: string,
): Promise<void> {
  await action();
  const t0 = performance.now();
  await page.waitForSelector(selector, { timeout: WAIT_MS });
  timings[what] = Math.round(performance.now() - t0);
}

function report(name: string, timings: Timings): void {
  console.log(
    `${name}: tool call → on the page: ${
      Object.entries(timings).map(([k, v]) => `${k} ${v} ms`).join(", ")
    }`,
  );
  for (const [what, ms] of Object.entries(timings)) {
    assert.ok(ms < LIVE_MS, `${what} took ${ms} ms to appear (limit ${LIVE_MS} ms)`);
  }
}

/** The common scenario: one session's work shows up live on an open page. */
async function liveScenario(page: Page, session: McpSession, timings: Timings, tag: string) {
  await page.waitForSelector('#conn[data-state="live"]', { timeout: WAIT_MS });
  // Set on this document only: still there at the end means no reload happened.
  await page.evaluate(() => Object.assign(globalThis, { __sameDocument: true }));
  await timed(
    page,
    timings,
    "sign_on",
    async () => structured(await session.call("sign_on")),
    '[data-session="claude_1"]',
  );
  const id = `${tag}-task`;
  await timed(
    page,
    timings,
    "post_task",
    async () => structured(await session.call("post_task", { task_id: id, title: "Ship it" })),
    `[data-task="${id}"][data-status="ready"]`,
  );
  await page.click('[data-toggle="done"]');
  await timed(
    page,
    timings,
    "claim_task",
    async () => structured(await session.call("claim_task", { task_id: id })),
    `[data-task="${id}"][data-status="in_progress"]`,
  );
  await page.waitForSelector(`[data-session="claude_1"] [data-current="${id}"]`);
  await timed(
    page,
    timings,
    "done",
    async () => structured(await session.call("update_task", { task_id: id, status: "done" })),
    `[data-task="${id}"][data-status="done"]`,
  );
  await timed(
    page,
    timings,
    "reserve_paths",
    async () =>
      structured(await session.call("reserve_paths", { paths: ["src/feature/**"], reason: "e2e" })),
    '[data-reservation="src/feature/**"]',
  );
  await page.waitForSelector('#audit [data-kind="reserve_paths"]');
  assert.equal(
    await page.evaluate(() => (globalThis as { __sameDocument?: boolean }).__sameDocument),
    true,
    "the page was never reloaded",
  );
}

async function saveScreenshot(page: Page, dir: string): Promise<void> {
  const file = join(dir, "dashboard.png");
  await page.screenshot({ path: file });
  const bytes = await Deno.readFile(file);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(bytes.length > 10_000, `a screenshot of ${bytes.length} bytes is too small`);
}

Deno.test({
  name: "dashboard e2e, local store: live updates, the token, Origin and Host checks",
  ignore,
  async fn() {
    const project = await createProject();
    const started: { dashboard?: DashboardProcess; session?: McpSession } = {};
    try {
      // The token from the environment, as a user would set it.
      started.dashboard = await startDashboardProcess(project, [], {
        env: { CLAUDE_SESSION_COORDINATOR_TOKEN: TOKEN },
      });
      const { url, port } = started.dashboard;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);

      const auth = { authorization: `Bearer ${TOKEN}` };
      const host = `127.0.0.1:${port}`;
      assert.equal(await rawGet(port, "/", { host }), 401, "no token");
      assert.equal(await rawGet(port, "/", { host, authorization: "Bearer wrong" }), 401);
      assert.equal(await rawGet(port, "/", { host, ...auth }), 200);
      assert.equal(await rawGet(port, "/", { host, ...auth, origin: "http://evil.example" }), 403);
      assert.equal(await rawGet(port, "/", { host: `evil.example:${port}`, ...auth }), 403);
      assert.equal(await rawGet(port, "/", { host: `localhost:${port}`, ...auth }), 200);
      assert.equal(await rawGet(port, "/events", { host, ...auth }), 200);

      await withChromium(async (browser) => {
        const page = browser.pages()[0] ?? await browser.newPage();
        const wrong = await page.goto(`${url}?token=not-the-token-at-all`);
        assert.equal(wrong?.status(), 401);
        const right = await page.goto(`${url}?token=${TOKEN}`);
        assert.equal(right?.status(), 200);
        assert.equal(page.url(), url, "the token leaves the address bar");
        await page.waitForSelector("#sessions .empty", { timeout: WAIT_MS });

        started.session = await connectServer(project);
        const timings: Timings = {};
        await liveScenario(page, started.session, timings, "local");
        await saveScreenshot(page, project.base);
        report("local", timings);
      });
    } finally {
      if (started.session) await stopSession(started.session).catch(() => {});
      if (started.dashboard) {
        const status: Deno.CommandStatus = await started.dashboard.stop();
        assert.equal(status.code, 0, `the dashboard exits cleanly on SIGTERM`);
      }
      await removeProject(project);
    }
  },
});

Deno.test({
  name: "dashboard e2e: refuses a non-loopback address without a token, and a taken port",
  async fn() {
    const project = await createProject();
    try {
      const open = await runCli(project, {
        flags: dashboardFlags(),
        args: ["dashboard", "--host", "0.0.0.0", "--port", "0"],
      });
      assert.equal(open.code, 2, open.stderr);
      assert.match(open.stderr, /CONFIG_INVALID: .*0\.0\.0\.0.*without a token/);

      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        const port = (listener.addr as Deno.NetAddr).port;
        const taken = await runCli(project, {
          flags: dashboardFlags(),
          args: ["dashboard", "--port", String(port)],
        });
        assert.equal(taken.code, 1, taken.stderr);
        assert.ok(taken.stderr.includes(`port ${port} on 127.0.0.1 is taken`), taken.stderr);
        assert.ok(taken.stderr.includes("--port 0"), taken.stderr);
      } finally {
        listener.close();
      }

      // Without the network permission (the start task's flags): the flag to add.
      const noNet = await runCli(project, { args: ["dashboard", "--port", "0"] });
      assert.equal(noNet.code, 1, noNet.stderr);
      assert.match(noNet.stderr, /--allow-net=127\.0\.0\.1/);

      const bad = await runCli(project, {
        flags: dashboardFlags(),
        args: ["dashboard", "--port", "http"],
      });
      assert.equal(bad.code, 2, bad.stderr);
    } finally {
      await removeProject(project);
    }
    // A project's own config (it came with the clone) may not open the board to the network.
    const cloned = await createProject({
      config: { dashboard: { host: "0.0.0.0", token: "chosen-by-the-repo-author" } },
    });
    try {
      const res = await runCli(cloned, {
        flags: dashboardFlags(),
        args: ["dashboard", "--port", "0"],
      });
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, /dashboard\.host 0\.0\.0\.0 .*came with the repository/);
      // The user opens it to the network themselves without a token of their own: the
      // repository's token (its author knows it) does not count, so it is refused.
      const own = await runCli(cloned, {
        flags: dashboardFlags(),
        args: ["dashboard", "--host", "0.0.0.0", "--port", "0"],
      });
      assert.equal(own.code, 2, own.stderr);
      assert.match(own.stderr, /dashboard\.token is not used: it came with the repository/);
      assert.match(own.stderr, /which other machines can reach, without a token/);
    } finally {
      await removeProject(cloned);
    }
  },
});

/** A project on the shared Redis, trusted by its user so its config may select Redis. */
async function redisProject(url: string, origin: string, machine: string): Promise<Project> {
  const project = await createProject({
    origin,
    config: {
      storage: { adapter: "redis", config: { url, prefix: "dash:" } },
      session: { machine_id: machine, lease_ttl_seconds: 5 },
    },
  });
  const userConfig = join(project.home, ".config", "claude-session-coordinator");
  await Deno.mkdir(userConfig, { recursive: true });
  await Deno.writeTextFile(
    join(userConfig, "config.json"),
    JSON.stringify({ trusted_projects: [project.root] }),
  );
  return project;
}

Deno.test({
  name: "dashboard e2e, Redis: live updates, and the picker switches between two projects",
  ignore: ignore || skipRedisTests(),
  async fn() {
    const redis = await startRedisServer({ port: freePort() });
    const projects: Project[] = [];
    const sessions: McpSession[] = [];
    let dashboard: DashboardProcess | undefined;
    try {
      const widget = await redisProject(
        redis.url,
        "https://github.com/acme/widget.git",
        "widget-box",
      );
      projects.push(widget);
      const gadget = await redisProject(
        redis.url,
        "https://github.com/acme/gadget.git",
        "gadget-box",
      );
      projects.push(gadget);
      dashboard = await startDashboardProcess(widget);
      const flags = dashboardFlags();
      await withChromium(async (browser) => {
        const page = browser.pages()[0] ?? await browser.newPage();
        await page.goto(dashboard!.url);
        await page.locator("#project-name", { hasText: "acme/widget" }).waitFor({
          timeout: WAIT_MS,
        });

        const a = await connectServer(widget, { flags });
        sessions.push(a);
        const timings: Timings = {};
        await liveScenario(page, a, timings, "redis");

        // The other project signs on: the picker offers it, and shows it when picked.
        const b = await connectServer(gadget, { flags });
        sessions.push(b);
        structured(await b.call("sign_on"));
        await page.waitForSelector('#project option[value="acme/gadget"]', {
          state: "attached",
          timeout: WAIT_MS,
        });
        assert.equal(await page.isVisible("#project"), true, "two projects: a picker");
        await page.selectOption("#project", "acme/gadget");
        await page.waitForSelector('[data-session="claude_1"][data-machine="gadget-box"]', {
          timeout: WAIT_MS,
        });
        assert.equal(await page.locator('[data-machine="widget-box"]').count(), 0);
        assert.match(page.url(), /project=acme%2Fgadget/);
        await page.waitForSelector('#conn[data-state="live"]', { timeout: WAIT_MS });
        await timed(
          page,
          timings,
          "post_task (picked project)",
          async () =>
            structured(await b.call("post_task", { task_id: "gadget-task", title: "Gadget work" })),
          '[data-task="gadget-task"]',
        );
        assert.equal(await page.locator('[data-task="redis-task"]').count(), 0);

        await page.selectOption("#project", "acme/widget");
        await page.waitForSelector('[data-task="redis-task"]', { timeout: WAIT_MS });
        await saveScreenshot(page, widget.base);
        report("redis", timings);
      });
    } finally {
      for (const session of sessions) await stopSession(session).catch(() => {});
      await dashboard?.stop();
      for (const p of projects) await removeProject(p);
      await redis.stop();
    }
  },
});
