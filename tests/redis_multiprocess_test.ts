/**
 * The Redis adapter under real concurrent processes: 8 children x 50
 * compare-and-set increments of one counter end at exactly 400, so the
 * server-side check-and-write has no race between processes.
 */
import assert from "node:assert/strict";
import { createRedisAdapter } from "../src/storage/redis/adapter.ts";
import { skipRedisTests, startRedisServer } from "./_redis_server.ts";
import { readLines } from "./_lines.ts";

const COUNTER = new URL("./fixtures/redis_counter.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const PROCESSES = 8;
const INCREMENTS = 50;
/** Kills every child still running after this long, so a hang fails instead of blocking CI. */
const DEADLINE_MS = 45_000;

const ignore = skipRedisTests();

Deno.test({
  name: `redis multiprocess: ${PROCESSES} processes x ${INCREMENTS} CAS increments lose nothing`,
  ignore,
}, async () => {
  const server = await startRedisServer();
  const children: Deno.ChildProcess[] = [];
  const deadline = setTimeout(() => {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
    }
  }, DEADLINE_MS);
  try {
    const prefix = "mp:";
    // The counter starts at 0 with a version seeded from the clock; every
    // increment after it is one more version.
    const first = await createRedisAdapter({
      url: server.url,
      prefix,
      limits: { maxValueBytes: 1024 },
    });
    const start = await first.store("shared", "counter", 0).finally(() => first.close());
    const workers = Array.from({ length: PROCESSES }, () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", COUNTER, server.url, prefix, "shared", String(INCREMENTS)],
        cwd: ROOT,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      children.push(child);
      return { child, lines: readLines(child.stdout), stderr: new Response(child.stderr).text() };
    });
    const nextLine = async (w: (typeof workers)[number]) => {
      const next = await w.lines.next();
      if (next.done) assert.fail(`a child ended early: ${await w.stderr}`);
      return next.value;
    };
    // Everyone connected before anyone starts, so they really contend.
    for (const w of workers) assert.equal(await nextLine(w), "ready");
    await Promise.all(workers.map(async (w) => {
      const writer = w.child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("go\n"));
      await writer.close();
    }));
    let conflicts = 0;
    for (const w of workers) {
      const line = await nextLine(w);
      const match = /^done (\d+)$/.exec(line);
      assert.ok(match, `unexpected output ${line}: ${await w.stderr}`);
      conflicts += Number(match[1]);
      const status = await w.child.status;
      assert.equal(status.code, 0, await w.stderr);
      for await (const _ of w.lines) { /* drain */ }
    }

    const adapter = await createRedisAdapter({
      url: server.url,
      prefix,
      limits: { maxValueBytes: 1024 },
    });
    try {
      const entry = await adapter.retrieve("shared", "counter");
      assert.equal(entry?.value, PROCESSES * INCREMENTS);
      // Every successful CAS was one write, so one version each.
      assert.equal(entry?.version, start.version + PROCESSES * INCREMENTS);
    } finally {
      await adapter.close();
    }
    console.log(`  ${conflicts} VERSION_CONFLICT retries across ${PROCESSES} processes`);
  } finally {
    clearTimeout(deadline);
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
    }
    await server.stop();
  }
});
