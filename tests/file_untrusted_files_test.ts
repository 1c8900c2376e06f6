/**
 * The local adapter and state files it must not trust: a state directory may
 * come from a cloned repository or a careless script, so a symlink, a FIFO, a
 * device or a huge file where a log should be is refused (CORRUPT_STATE
 * naming the file) instead of being read without end or written through, and
 * no error ever quotes a file's content.
 *
 * The calls that could hang or eat memory if a refusal regressed run in a
 * child process (tests/fixtures/file_child.ts) with a deadline and a memory
 * ceiling, so a regression fails the test instead of stalling it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import type { Scope } from "../src/core/scope.ts";
import { LOG_FILE_SUFFIX, scopeToFileName } from "../src/storage/file/names.ts";
import { rejectsWithCode } from "../src/storage/testing/contract_suite.ts";
import { type Answer, spawnChild } from "./fixtures/file_child.ts";

const LIMITS = { maxValueBytes: 1024 * 1024 };
const SECRET = "S3CRET";
const posix = Deno.build.os !== "windows";

const logName = (scope: string) => scopeToFileName(scope as Scope, LOG_FILE_SUFFIX);
const legacyName = (scope: string) => scopeToFileName(scope as Scope);

/** A valid log of `scope` holding key "k", as a planted target a writer could append to. */
function validLog(scope: string): string {
  const header = {
    format: 2,
    scope,
    generation: 1,
    seq: 1,
    created_at: "2024-01-01T00:00:00.000Z",
    file_id: "00112233aabbccdd",
  };
  const set = {
    op: "set",
    key: "k",
    value: SECRET,
    version: 1,
    updated_at: "2024-01-01T00:00:00.000Z",
    updated_by: null,
    expires_at: null,
  };
  return JSON.stringify(header) + "\n" + JSON.stringify(set) + "\n";
}

function assertRefused(answer: Answer, file: string, what: RegExp): void {
  assert.ok(!answer.ok, `refused, got ${JSON.stringify(answer)}`);
  assert.equal(answer.code, "CORRUPT_STATE", answer.message);
  assert.equal(answer.details.file, file);
  assert.ok(answer.message.startsWith(file + ": "), answer.message);
  assert.match(answer.message, what);
  assert.ok(!answer.message.includes(SECRET), `no file content in ${answer.message}`);
}

async function withDir(fn: (root: string, base: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "csc_untrusted_" });
  const base = join(root, "state");
  await Deno.mkdir(join(base, ".locks"), { recursive: true });
  try {
    await fn(root, base);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test({
  name: "local: state files that never end (a device, a FIFO, a huge file) are refused",
  ignore: !posix,
  fn: () =>
    withDir(async (_root, base) => {
      const zeroLog = join(base, logName("zero"));
      const zeroOld = join(base, legacyName("zero-old"));
      await Deno.symlink("/dev/zero", zeroLog);
      await Deno.symlink("/dev/zero", zeroOld);
      const fifoLog = join(base, logName("fifo"));
      const fifoOld = join(base, legacyName("fifo-old"));
      for (const path of [fifoLog, fifoOld]) {
        const made = await new Deno.Command("mkfifo", { args: [path] }).output();
        assert.ok(made.success, "mkfifo");
      }
      // Sparse: a 1 GiB hole costs no disk space.
      const bigLog = join(base, logName("big"));
      const bigOld = join(base, legacyName("big-old"));
      for (const path of [bigLog, bigOld]) {
        await Deno.writeTextFile(path, "");
        await Deno.truncate(path, 1024 ** 3 + 1);
      }
      const child = await spawnChild(base);
      try {
        const cases: [string, string, RegExp][] = [
          ["zero", zeroLog, /symbolic link/],
          ["zero-old", zeroOld, /symbolic link/],
          ["fifo", fifoLog, /not a regular file/],
          ["fifo-old", fifoOld, /not a regular file/],
          ["big", bigLog, /larger than/],
          ["big-old", bigOld, /larger than/],
        ];
        for (const [scope, file, what] of cases) {
          assertRefused(await child.call("retrieve", [scope, "k"]), file, what);
          assertRefused(await child.call("listKeys", [scope]), file, what);
          assertRefused(await child.call("store", [scope, "k", 1]), file, what);
          assertRefused(await child.call("delete", [scope, "k"]), file, what);
        }
        const listed = await child.call("listScopes", []);
        assert.ok(listed.ok, JSON.stringify(listed));
        // A refused file is listed (its name is a scope), so people see it.
        assert.deepEqual(listed.value, cases.map(([scope]) => scope).sort());
      } finally {
        await child.close();
      }
      assert.equal((await Deno.stat(bigLog)).size, 1024 ** 3 + 1, "left as it was");
    }),
});

Deno.test({
  name: "local: a symlink to a file outside the state directory is never read or written",
  ignore: !posix,
  fn: () =>
    withDir(async (root, base) => {
      // A valid log for its scope: code that follows the link would append to it.
      const outside = join(root, "outside.jsonl");
      await Deno.writeTextFile(outside, validLog("planted"));
      const before = await Deno.readFile(outside);
      const planted = join(base, logName("planted"));
      await Deno.symlink(outside, planted);
      const plantedOld = join(base, legacyName("planted-old"));
      await Deno.symlink(outside, plantedOld);
      // Lock files: one pointing at a file, one dangling (it must not be created).
      const lockTarget = join(root, "outside.lock");
      await Deno.writeTextFile(lockTarget, SECRET);
      const lockFile = join(base, ".locks", legacyName("locked") + ".lock");
      await Deno.symlink(lockTarget, lockFile);
      const dangling = join(root, "created-through-a-link");
      const danglingLock = join(base, ".locks", legacyName("dangling") + ".lock");
      await Deno.symlink(dangling, danglingLock);

      const child = await spawnChild(base);
      try {
        for (const [scope, file] of [["planted", planted], ["planted-old", plantedOld]]) {
          assertRefused(await child.call("retrieve", [scope, "k"]), file, /symbolic link/);
          assertRefused(await child.call("listEntries", [scope]), file, /symbolic link/);
          assertRefused(await child.call("store", [scope, "k", 2]), file, /symbolic link/);
          assertRefused(await child.call("delete", [scope, "k"]), file, /symbolic link/);
          const entry = {
            value: 1,
            version: 9,
            updatedAt: "2024-01-01T00:00:00.000Z",
            updatedBy: null,
            expiresAt: null,
            heldBy: null,
          };
          assertRefused(await child.call("restore", [scope, "r", entry]), file, /symbolic link/);
        }
        for (const [scope, file] of [["locked", lockFile], ["dangling", danglingLock]]) {
          const answer = await child.call("store", [scope, "k", 1]);
          assertRefused(answer, file, /symbolic link/);
        }
        // deleteScope is the remedy: it replaces the link, never touching its target.
        const deleted = await child.call("deleteScope", ["planted"]);
        assert.deepEqual(deleted, { ok: true, value: false });
        const stored = await child.call("store", ["planted", "k", 3]);
        assert.ok(stored.ok, JSON.stringify(stored));
        assert.ok((await Deno.lstat(planted)).isFile, "a regular log now");
      } finally {
        await child.close();
      }
      assert.deepEqual(await Deno.readFile(outside), before, "the outside file is unchanged");
      assert.equal(await Deno.readTextFile(lockTarget), SECRET);
      await assert.rejects(Deno.lstat(dangling), Deno.errors.NotFound);
    }),
});

/** Logs and format-1 files whose bad content must not appear in the error. */
const LEAKS: [string, "log" | "v1", string][] = [
  ["a line that is not JSON", "log", `${SECRET} is not json`],
  ["a header that is not JSON", "log", `{"format":2,"scope":"${SECRET}`],
  ["a header of another scope", "log", JSON.stringify({ format: 2, scope: SECRET })],
  ["an unknown format", "log", JSON.stringify({ format: SECRET })],
  ["an unknown op", "log", "op"],
  ["a format-1 file that is not JSON", "v1", `{"format": 1, "scope": "${SECRET}`],
  ["a format-1 file of another scope", "v1", JSON.stringify({ format: 1, scope: SECRET })],
  ["a format-1 file of an unknown format", "v1", JSON.stringify({ format: SECRET })],
  [
    "a format-1 key without metadata",
    "v1",
    JSON.stringify({
      format: 1,
      scope: "leaky",
      data: { [SECRET]: 1 },
      metadata: { seq: 1, created_at: "x", updated_at: "x", keys: {} },
    }),
  ],
];

for (const [what, kind, content] of LEAKS) {
  Deno.test(`local: ${what} is CORRUPT_STATE that does not quote the file`, async () => {
    await withDir(async (_root, base) => {
      const file = join(base, kind === "log" ? logName("leaky") : legacyName("leaky"));
      const header = JSON.stringify({
        format: 2,
        scope: "leaky",
        generation: 1,
        seq: 0,
        created_at: "2024-01-01T00:00:00.000Z",
        file_id: "00112233aabbccdd",
      });
      const text = kind === "v1"
        ? content
        : content === "op"
        ? `${header}\n${JSON.stringify({ op: SECRET, key: "k" })}\n`
        : content.startsWith("{")
        ? content + "\n"
        : `${header}\n${content}\n`;
      await Deno.writeTextFile(file, text);
      const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
      try {
        for (
          const call of [() => adapter.retrieve("leaky", "k"), () => adapter.store("leaky", "k", 1)]
        ) {
          const err = await rejectsWithCode(call, "CORRUPT_STATE");
          assert.equal(err.details.file, file);
          assert.ok(!err.message.includes(SECRET), err.message);
          assert.ok(!JSON.stringify(err.details).includes(SECRET));
          assert.equal(err.cause, undefined, "no parser error carried along");
        }
      } finally {
        await adapter.close();
      }
    });
  });
}

Deno.test({
  name: "local: the same refusals in this process, where they cannot hang (links, a huge file)",
  ignore: !posix,
  fn: () =>
    withDir(async (root, base) => {
      const outside = join(root, "outside.jsonl");
      await Deno.writeTextFile(outside, validLog("planted"));
      const before = await Deno.readFile(outside);
      await Deno.symlink(outside, join(base, logName("planted")));
      await Deno.symlink(outside, join(base, legacyName("planted-old")));
      const big = join(base, logName("big"));
      await Deno.writeTextFile(big, "");
      await Deno.truncate(big, 1024 ** 3 + 1);
      const lockTarget = join(root, "outside.lock");
      await Deno.writeTextFile(lockTarget, SECRET);
      const lockFile = join(base, ".locks", legacyName("locked") + ".lock");
      await Deno.symlink(lockTarget, lockFile);
      const danglingLock = join(base, ".locks", legacyName("dangling") + ".lock");
      await Deno.symlink(join(root, "nowhere"), danglingLock);
      const adapter = await createFileAdapter({ basePath: base, limits: LIMITS });
      try {
        const refused = async (call: () => Promise<unknown>, file: string, what: RegExp) => {
          const err = await rejectsWithCode(call, "CORRUPT_STATE");
          assertRefused(
            { ok: false, code: err.code, message: err.message, details: { ...err.details } },
            file,
            what,
          );
        };
        for (
          const [scope, file] of [["planted", logName("planted")], [
            "planted-old",
            legacyName("planted-old"),
          ]]
        ) {
          await refused(() => adapter.retrieve(scope, "k"), join(base, file), /symbolic link/);
          await refused(() => adapter.store(scope, "k", 1), join(base, file), /symbolic link/);
        }
        await refused(() => adapter.listKeys("big"), big, /larger than/);
        await refused(() => adapter.store("big", "k", 1), big, /larger than/);
        await refused(() => adapter.store("locked", "k", 1), lockFile, /symbolic link/);
        await refused(() => adapter.store("dangling", "k", 1), danglingLock, /symbolic link/);
        // A guard scope whose lock file is a link is refused the same way.
        const guard = { scope: "locked", key: "k", field: "f", equals: "v" };
        await refused(() => adapter.store("g", "k", 1, { guard }), lockFile, /symbolic link/);
        // deleteScope replaces what it cannot read, never touching a link's target.
        assert.equal(await adapter.deleteScope("planted-old"), false);
        assert.equal(await adapter.deleteScope("big"), false);
        assert.ok((await adapter.store("big", "k", 1)).version > 0);
        assert.ok((await Deno.lstat(big)).size < 1024, "a small log in its place");
      } finally {
        await adapter.close();
      }
      assert.deepEqual(await Deno.readFile(outside), before);
      assert.equal(await Deno.readTextFile(lockTarget), SECRET);
      await assert.rejects(Deno.lstat(join(root, "nowhere")), Deno.errors.NotFound);
    }),
});
