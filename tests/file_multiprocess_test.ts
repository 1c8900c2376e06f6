/**
 * The local file adapter under real concurrent processes: writes are not
 * lost, compare-and-set is atomic across processes, a writer killed with
 * SIGKILL leaves a readable log with every acknowledged write and no lock
 * held, and a log compacted by one process is followed by the others.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import { type Scope } from "../src/core/scope.ts";
import { LOG_FILE_SUFFIX, scopeToFileName } from "../src/storage/file/names.ts";
import { readLines } from "./_lines.ts";

const WRITER = new URL("./fixtures/file_writer.ts", import.meta.url).pathname;
const LIMITS = { maxValueBytes: 1024 * 1024 };
/** Kills every child still running after this long, so a hang fails instead of blocking CI. */
const DEADLINE_MS = 90_000;

/** One child process running tests/fixtures/file_writer.ts. */
interface Writer {
  child: Deno.ChildProcess;
  /** The next line of its stdout, or null at the end. */
  nextLine: () => Promise<string | null>;
  /** Sends the start signal. */
  start: () => Promise<void>;
  /** Everything it wrote to stderr, once it exited. */
  stderr: Promise<string>;
}

function spawnWriter(args: string[]): Writer {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WRITER, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = readLines(child.stdout);
  return {
    child,
    nextLine: async () => {
      const next = await lines.next();
      return next.done ? null : next.value;
    },
    start: async () => {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("go\n"));
      await writer.close();
    },
    stderr: new Response(child.stderr).text(),
  };
}

/** The complete lines of a log, parsed; a torn last line (no newline) is left out. */
async function readLog(path: string): Promise<Record<string, unknown>[]> {
  const lines = (await Deno.readTextFile(path)).split("\n");
  lines.pop(); // "" after the last newline, or a torn line
  return lines.map((line, i) => {
    try {
      return JSON.parse(line);
    } catch (err) {
      throw new Error(`${path}: line ${i + 1} is torn: ${(err as Error).message}`);
    }
  });
}

async function expectLine(writer: Writer, expected: RegExp): Promise<string> {
  const line = await writer.nextLine();
  if (line === null || !expected.test(line)) {
    try {
      writer.child.kill("SIGKILL");
    } catch { /* exited already */ }
    await writer.child.status;
    assert.fail(`expected a line matching ${expected}, got ${line}: ${await writer.stderr}`);
  }
  return line;
}

/**
 * Runs `body` over fresh children and a fresh temp dir; whatever happens,
 * every child is killed if still running and awaited, and the dir removed.
 */
async function withWriters(
  body: (ctx: { base: string; spawn: (args: string[]) => Writer }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "csc_mp_" });
  const base = join(root, "state");
  const writers: Writer[] = [];
  const killAll = () => {
    for (const w of writers) {
      try {
        w.child.kill("SIGKILL");
      } catch { /* already exited */ }
    }
  };
  const deadline = setTimeout(killAll, DEADLINE_MS);
  try {
    await body({
      base,
      spawn: (args) => {
        const writer = spawnWriter(args);
        writers.push(writer);
        return writer;
      },
    });
  } finally {
    clearTimeout(deadline);
    killAll();
    for (const w of writers) {
      await w.child.status;
      await w.stderr;
      while (await w.nextLine() !== null) { /* drain so the stream closes */ }
    }
    await Deno.remove(root, { recursive: true });
  }
}

/** Starts `n` writers, waits until all are ready, starts them together, awaits their ends. */
async function runTogether(writers: Writer[]): Promise<string[]> {
  for (const w of writers) await expectLine(w, /^ready$/);
  await Promise.all(writers.map((w) => w.start()));
  const ends: string[] = [];
  for (const w of writers) {
    const line = await expectLine(w, /^done \d+$/);
    const status = await w.child.status;
    assert.equal(status.code, 0, await w.stderr);
    ends.push(line);
  }
  return ends;
}

Deno.test("local, 8 processes: 8 x 100 distinct keys into one scope leave 800 keys", async () => {
  await withWriters(async ({ base, spawn }) => {
    const writers = Array.from(
      { length: 8 },
      (_, id) => spawn(["distinct", base, "shared:scope", `w${id}`, "100"]),
    );
    await runTogether(writers);
    const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
    try {
      const entries = await adapter.listEntries("shared:scope");
      assert.equal(entries.length, 800);
      for (let id = 0; id < 8; id++) {
        for (let i = 0; i < 100; i++) {
          const found = entries.find((e) => e.key === `w${id}-${i}`);
          assert.deepEqual(found?.entry.value, { id: `w${id}`, i });
        }
      }
      const versions = new Set(entries.map((e) => e.entry.version));
      assert.equal(versions.size, 800, "no version handed out twice");
      // Seeded from the clock by the first write, then one more per write.
      const first =
        (await readLog(join(base, scopeToFileName("shared:scope" as Scope, LOG_FILE_SUFFIX))))[0]
          .seq as number;
      assert.equal(Math.min(...versions), first);
      assert.equal(Math.max(...versions), first + 799, "exactly 800 writes happened");
    } finally {
      await adapter.close();
    }
  });
});

Deno.test("local, 8 processes: 8 x 50 compare-and-set increments end at exactly 400", async () => {
  await withWriters(async ({ base, spawn }) => {
    const writers = Array.from(
      { length: 8 },
      (_, id) => spawn(["increment", base, "shared:counter", `w${id}`, "50"]),
    );
    const ends = await runTogether(writers);
    const conflicts = ends.reduce((sum, line) => sum + Number(line.split(" ")[1]), 0);
    const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
    try {
      const entry = await adapter.retrieve("shared:counter", "counter");
      assert.equal(entry?.value, 400);
      // Every successful increment is one write; conflicts wrote nothing. The
      // header's seq is the first write's version (the log was made with it).
      const log = join(base, scopeToFileName("shared:counter" as Scope, LOG_FILE_SUFFIX));
      const first = (await readLog(log))[0].seq as number;
      assert.equal(entry?.version, first + 399);
      console.log(`  (${conflicts} version conflicts were retried)`);
    } finally {
      await adapter.close();
    }
  });
});

Deno.test("local: a writer killed with SIGKILL leaves a readable log and no lock", async (t) => {
  await withWriters(async ({ base, spawn }) => {
    const scope = "crash:test";
    const file = join(base, scopeToFileName(scope as Scope, LOG_FILE_SUFFIX));
    const acked = new Set<string>();
    // Kill at different points; bigger values widen the window inside a write.
    for (const [round, killAfter] of [3, 15, 40].entries()) {
      await t.step(`killed after ${killAfter} acknowledged writes`, async () => {
        const writer = spawn(["endless", base, scope, `r${round}`, "0", "20000"]);
        await expectLine(writer, /^ready$/);
        await writer.start();
        // Meanwhile, read the log as fast as we can: a reader must only ever
        // see whole lines, never a line the writer is still appending.
        let writing = true;
        let reads = 0;
        const reader = (async () => {
          const observer = await createFileAdapter({ basePath: base, limits: LIMITS });
          try {
            while (writing) {
              await observer.listKeys(scope); // throws CORRUPT_STATE on a torn line
              reads++;
            }
          } finally {
            await observer.close();
          }
        })();
        let acks = 0;
        try {
          for (let line = await writer.nextLine(); line !== null; line = await writer.nextLine()) {
            const match = /^ack (\d+)$/.exec(line);
            assert.ok(match, `unexpected line ${line}`);
            acked.add(`r${round}-${match[1]}`);
            if (++acks === killAfter) writer.child.kill("SIGKILL");
          }
        } finally {
          writing = false;
          await reader;
        }
        assert.ok(reads > 0);
        const status = await writer.child.status;
        assert.equal(status.signal, "SIGKILL", await writer.stderr);

        // Every complete line parses, and the log holds every write the
        // writer acknowledged (the last line may be torn: it was not acknowledged).
        const onDisk = new Set((await readLog(file)).slice(1).map((r) => r.key));
        for (const key of acked) assert.ok(onDisk.has(key), `acknowledged ${key} is on disk`);

        // No lock is left held: this process and another one write at once.
        const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
        try {
          // Opening swept any temp file the killed writer left behind.
          const temps = [];
          for await (const e of Deno.readDir(base)) if (e.name.endsWith(".tmp")) temps.push(e.name);
          assert.deepEqual(temps, []);
          let timer: ReturnType<typeof setTimeout> | undefined;
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error("the scope lock is still held")), 10_000);
          });
          try {
            await Promise.race([adapter.store(scope, `after-${round}`, true), timeout]);
          } finally {
            clearTimeout(timer);
          }
          const next = spawn(["distinct", base, scope, `next${round}`, "1"]);
          await runTogether([next]);
          const keys = await adapter.listKeys(scope);
          for (const key of [...acked, `after-${round}`, `next${round}-0`]) {
            assert.ok(keys.includes(key), `${key} is listed`);
          }
        } finally {
          await adapter.close();
        }
      });
    }
  });
});

Deno.test("local, 2 processes: a log compacted by a child is followed by the parent's cache", async () => {
  await withWriters(async ({ base, spawn }) => {
    const scope = "compact:test";
    const file = join(base, scopeToFileName(scope as Scope, LOG_FILE_SUFFIX));
    const parent = await createFileAdapter({ basePath: base, limits: LIMITS });
    try {
      const first = await parent.store(scope, "parent", 0);
      assert.deepEqual(await parent.listKeys(scope), ["parent"], "cached by the parent");
      // 300 writes of about 2 KB over 10 keys: about 600 KB through a log
      // whose live keys need 20 KB, so it is compacted several times.
      const child = spawn(["overwrite", base, scope, "c", "300", "2000"]);
      let reading = true;
      let reads = 0;
      const reader = (async () => {
        while (reading) {
          // Always a consistent state: each key holds one of its own writes.
          for (const { key, entry } of await parent.listEntries(scope)) {
            if (key === "parent") continue;
            assert.equal((entry.value as { i: number }).i % 10, Number(key.slice(2)), key);
          }
          reads++;
          await new Promise((r) => setTimeout(r, 1));
        }
      })();
      try {
        await runTogether([child]);
      } finally {
        reading = false;
        await reader;
      }
      assert.ok(reads > 0);
      const lines = await readLog(file);
      assert.ok((lines[0].generation as number) >= 3, `compacted: ${JSON.stringify(lines[0])}`);
      const entries = await parent.listEntries(scope);
      assert.equal(entries.length, 11);
      for (let j = 0; j < 10; j++) {
        const found = entries.find((e) => e.key === `c-${j}`);
        assert.equal((found?.entry.value as { i: number }).i, 290 + j);
      }
      const fresh = await createFileAdapter({ basePath: base, limits: LIMITS });
      try {
        assert.deepEqual(entries, await fresh.listEntries(scope), "the cache matches the file");
      } finally {
        await fresh.close();
      }
      // 1 write by the parent, 300 by the child: the next version is the 302nd.
      assert.equal((await parent.store(scope, "parent", 1)).version, first.version + 301);
    } finally {
      await parent.close();
    }
  });
});

Deno.test("local, 4 processes: deleting the lock files meanwhile breaks no compare-and-set", async () => {
  await withWriters(async ({ base, spawn }) => {
    const scope = "shared:locks";
    const lockDir = join(base, ".locks");
    const lockFile = join(lockDir, scopeToFileName(scope as Scope) + ".lock");
    const writers = Array.from(
      { length: 4 },
      (_, id) => spawn(["cas", base, scope, `w${id}`, "150"]),
    );
    for (const w of writers) await expectLine(w, /^ready$/);
    // Deletes the scope's lock file, and now and then the whole lock
    // directory, for as long as the writers run.
    let deleting = true;
    let deletions = 0;
    const deleter = (async () => {
      for (let i = 0; deleting; i++) {
        try {
          if (i % 5 === 4) await Deno.remove(lockDir, { recursive: true });
          else await Deno.remove(lockFile);
          deletions++;
        } catch {
          // Gone already, or a writer made a file in it meanwhile (ENOTEMPTY).
        }
      }
    })();
    const acks: { version: number; value: number }[] = [];
    try {
      await Promise.all(writers.map((w) => w.start()));
      await Promise.all(writers.map(async (w) => {
        for (;;) {
          const line = await expectLine(w, /^(ack \d+ \d+|done \d+)$/);
          if (line.startsWith("done")) break;
          const [, version, value] = line.split(" ");
          acks.push({ version: Number(version), value: Number(value) });
        }
        assert.equal((await w.child.status).code, 0, await w.stderr);
      }));
    } finally {
      deleting = false;
      await deleter;
    }
    assert.ok(deletions > 0, "the lock files were deleted while the writers ran");
    assert.equal(acks.length, 600);
    const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
    try {
      const entry = await adapter.retrieve(scope, "counter");
      assert.equal(entry?.value, acks.length, "every acknowledged increment counted once");
      assert.equal(new Set(acks.map((a) => a.version)).size, acks.length, "no version twice");
      assert.equal(new Set(acks.map((a) => a.value)).size, acks.length, "no value twice");
      console.log(`  (${deletions} lock deletions while 600 increments ran)`);
    } finally {
      await adapter.close();
    }
  });
});

Deno.test("local, 4 processes: writes guarded by each other's scopes all land", async () => {
  await withWriters(async ({ base, spawn }) => {
    const setup = await createFileAdapter({ basePath: base, limits: LIMITS });
    try {
      await setup.store("mutual:x", "lease", { grant: "ok" });
      await setup.store("mutual:y", "lease", { grant: "ok" });
    } finally {
      await setup.close();
    }
    // Writers of x guarded by y's lease, and of y guarded by x's: each holds
    // its own scope's lock while it checks the other's.
    const writers = [
      spawn(["guarded", base, "mutual:x", "a", "100", "mutual:y"]),
      spawn(["guarded", base, "mutual:y", "b", "100", "mutual:x"]),
      spawn(["guarded", base, "mutual:x", "c", "100", "mutual:y"]),
      spawn(["guarded", base, "mutual:y", "d", "100", "mutual:x"]),
    ];
    const started = performance.now();
    await runTogether(writers);
    const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
    try {
      assert.equal((await adapter.listKeys("mutual:x")).length, 201);
      assert.equal((await adapter.listKeys("mutual:y")).length, 201);
      console.log(`  (400 guarded writes in ${(performance.now() - started).toFixed(0)} ms)`);
    } finally {
      await adapter.close();
    }
  });
});
