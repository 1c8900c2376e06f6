/**
 * The postgres adapter under real concurrent processes: 8 children x 50
 * compare-and-set increments of one counter end at exactly 400, with 400
 * distinct versions, so the check-and-write has no race between processes.
 * The children run with the adapter's narrow permissions only.
 */
import assert from "node:assert/strict";
import { createPostgresAdapter } from "../src/storage/postgres/adapter.ts";
import { freshSchema, skipPostgresTests, startPostgresServer } from "./_postgres_server.ts";
import { readLines } from "./_lines.ts";

const COUNTER = new URL("./fixtures/postgres_counter.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const PROCESSES = 8;
const INCREMENTS = 50;
/** Kills every child still running after this long, so a hang fails instead of blocking CI. */
const DEADLINE_MS = 60_000;

const ignore = skipPostgresTests();

Deno.test({
  name: `postgres multiprocess: ${PROCESSES} processes x ${INCREMENTS} CAS increments lose nothing`,
  ignore,
}, async () => {
  const server = await startPostgresServer();
  const schema = freshSchema();
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
    // Create the schema first, so the children start as servers usually do.
    await (await createPostgresAdapter({
      url: server.url(),
      schema,
      limits: { maxValueBytes: 1024 },
    }))
      .close();
    const workers = Array.from({ length: PROCESSES }, () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          `--allow-net=127.0.0.1:${server.port}`,
          "--ignore-env=PGBINARY,PGREPLICATION",
          COUNTER,
          server.url(),
          schema,
          "shared",
          String(INCREMENTS),
        ],
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
    const versions: number[] = [];
    for (const w of workers) {
      const line = await nextLine(w);
      const match = /^done (\d+) ([\d ]+)$/.exec(line);
      assert.ok(match, `unexpected output ${line}: ${await w.stderr}`);
      conflicts += Number(match[1]);
      const mine = match[2].split(" ").map(Number);
      assert.equal(mine.length, INCREMENTS);
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i] > mine[i - 1], "versions grow");
      versions.push(...mine);
      const status = await w.child.status;
      assert.equal(status.code, 0, await w.stderr);
      for await (const _ of w.lines) { /* drain */ }
    }

    assert.equal(new Set(versions).size, PROCESSES * INCREMENTS, "no version handed out twice");
    const adapter = await createPostgresAdapter({
      url: server.url(),
      schema,
      limits: { maxValueBytes: 1024 },
    });
    try {
      const entry = await adapter.retrieve("shared", "counter");
      assert.equal(entry?.value, PROCESSES * INCREMENTS);
      assert.equal(entry?.version, Math.max(...versions), "the last write is the one stored");
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
