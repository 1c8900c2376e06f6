/**
 * The local file adapter under real concurrent processes: writes are not
 * lost, compare-and-set is atomic across processes, and a writer killed with
 * SIGKILL leaves a whole file with every acknowledged write and no lock held.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileAdapter } from "../src/storage/file.ts";
import { type Scope, scopeToFileName } from "../src/scope.ts";

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

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      yield buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
    }
  }
  if (buffer !== "") yield buffer;
}

async function expectLine(writer: Writer, expected: RegExp): Promise<string> {
  const line = await writer.nextLine();
  if (line === null || !expected.test(line)) {
    writer.child.kill("SIGKILL");
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
      assert.equal(Math.max(...versions), 800, "exactly 800 writes happened");
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
      // Every successful increment is one write; conflicts wrote nothing.
      assert.equal(entry?.version, 400);
      console.log(`  (${conflicts} version conflicts were retried)`);
    } finally {
      await adapter.close();
    }
  });
});

Deno.test("local: a writer killed with SIGKILL leaves a whole file and no lock", async (t) => {
  await withWriters(async ({ base, spawn }) => {
    const scope = "crash:test";
    const file = join(base, scopeToFileName(scope as Scope));
    const acked = new Set<string>();
    // Kill at different points; bigger values widen the window inside a write.
    for (const [round, killAfter] of [3, 15, 40].entries()) {
      await t.step(`killed after ${killAfter} acknowledged writes`, async () => {
        const writer = spawn(["endless", base, scope, `r${round}`, "0", "20000"]);
        await expectLine(writer, /^ready$/);
        await writer.start();
        // Meanwhile, read the file as fast as we can: a reader must only
        // ever see a whole file (the old or the new), never a partial one.
        let writing = true;
        let reads = 0;
        const reader = (async () => {
          const observer = await createFileAdapter({ basePath: base, limits: LIMITS });
          try {
            while (writing) {
              await observer.listKeys(scope); // throws CORRUPT_STATE on a torn file
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

        // The file parses and holds every write the writer acknowledged.
        const doc = JSON.parse(await Deno.readTextFile(file));
        for (const key of acked) assert.ok(key in doc.data, `acknowledged ${key} is on disk`);

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
