/**
 * How the postgres adapter connects: TLS by sslmode (with and without
 * verification, a CA file given absolute or relative to the project root),
 * and the exact Deno permissions it needs, proven in child processes run with
 * the server's narrow flags. One TLS-enabled server serves the whole file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CoordinatorError, describeError } from "../src/core/errors.ts";
import { DEFAULT_MAX_VALUE_BYTES } from "../src/storage/contract.ts";
import { createPostgresAdapter } from "../src/storage/postgres/adapter.ts";
import { rejectsWithCode } from "../src/storage/testing/contract_suite.ts";
import { binaryPermissions } from "../scripts/compile.ts";
import { freshSchema, lazyPostgresServer, skipPostgresTests } from "./_postgres_server.ts";

const ignore = skipPostgresTests();
const shared = lazyPostgresServer({ tls: true });
if (!ignore) Deno.test.afterAll(() => shared.stop());
const LIMITS = { maxValueBytes: DEFAULT_MAX_VALUE_BYTES };
const ROOT = new URL("..", import.meta.url).pathname;
const FIXTURE = new URL("./fixtures/postgres_permissions.ts", import.meta.url).pathname;

/** Every way an error could carry a secret out: message, details, cause chain, JSON. */
function errorText(err: unknown): string {
  const details = err instanceof CoordinatorError ? JSON.stringify(err.details) : "";
  return [String(err), describeError(err), details, JSON.stringify(err)].join("\n");
}

Deno.test({ name: "postgres TLS: sslmode and sslrootcert", ignore }, async (t) => {
  const server = await shared.get();
  /** How many of our connections to the server are encrypted, and how many are not. */
  const encryption = async () => {
    const rows = await server.sql<{ ssl: boolean; n: number }>(
      `SELECT s.ssl, count(*)::int AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
       WHERE a.application_name = 'claude-session-coordinator' GROUP BY s.ssl`,
    );
    return Object.fromEntries(rows.map((r) => [String(r.ssl), r.n]));
  };
  const works = async (query: string, projectRoot?: string) => {
    const schema = freshSchema();
    const adapter = await createPostgresAdapter({
      url: `${server.url()}?${query}`,
      schema,
      limits: LIMITS,
      projectRoot,
    });
    try {
      await adapter.store("tls", "k", query);
      assert.equal((await adapter.retrieve("tls", "k"))?.value, query);
      return await encryption();
    } finally {
      await adapter.close();
      await server.sql(`DROP SCHEMA "${schema}" CASCADE`);
    }
  };
  await t.step("require encrypts without verifying", async () => {
    assert.deepEqual(await works("sslmode=require"), { true: 1 });
  });
  await t.step("verify-full with the CA, given absolute or relative", async () => {
    const ca = encodeURIComponent(server.caFile!);
    assert.deepEqual(await works(`sslmode=verify-full&sslrootcert=${ca}`), { true: 1 });
    assert.deepEqual(await works("sslmode=verify-full&sslrootcert=ca.crt", server.dir), {
      true: 1,
    });
  });
  await t.step("verify-ca, and require with a CA (which verifies the chain)", async () => {
    const ca = encodeURIComponent(server.caFile!);
    assert.deepEqual(await works(`sslmode=verify-ca&sslrootcert=${ca}`), { true: 1 });
    assert.deepEqual(await works(`sslmode=require&sslrootcert=${ca}`), { true: 1 });
  });
  await t.step("disable does not encrypt", async () => {
    assert.deepEqual(await works("sslmode=disable"), { false: 1 });
  });
  await t.step("a certificate that does not verify is CONFIG_INVALID", async () => {
    const err = await rejectsWithCode(
      () => createPostgresAdapter({ url: `${server.url()}?sslmode=verify-full`, limits: LIMITS }),
      "CONFIG_INVALID",
    );
    assert.match(err.message, /could not be verified/);
    assert.match(err.message, /sslrootcert/);
    assert.ok(!errorText(err).includes(server.password), errorText(err));
    assert.ok(!errorText(err).includes(encodeURIComponent(server.password)));
  });
});

/** The start task's --allow-env flag, read from deno.json, so this test follows it. */
async function startTaskEnvFlag(): Promise<string> {
  const meta = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const flag = (meta.tasks.start as string).split(/\s+/).find((w) => w.startsWith("--allow-env"));
  assert.ok(flag?.startsWith("--allow-env="), `the start task narrows --allow-env: ${flag}`);
  return flag!;
}

async function runChild(flags: string[], url: string, schema: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, FIXTURE, url, schema],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout).trim(),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test({
  name: "postgres permissions: --allow-net plus the start task's narrow env list and " +
    "--ignore-env=PGBINARY,PGREPLICATION are enough; without them, CONFIG_INVALID says which flag",
  ignore,
}, async (t) => {
  const server = await shared.get();
  const env = await startTaskEnvFlag();
  const net = `--allow-net=127.0.0.1:${server.port}`;
  const ignoreEnv = "--ignore-env=PGBINARY,PGREPLICATION";
  const schema = freshSchema();
  try {
    await t.step("enough", async () => {
      const run = await runChild([env, net, ignoreEnv], server.url(), schema);
      assert.equal(run.stdout, "ok", run.stderr);
      assert.equal(run.code, 0);
    });
    await t.step("the release binaries' flags", async () => {
      const run = await runChild(binaryPermissions(), server.url(), schema);
      assert.equal(run.stdout, "ok", run.stderr);
      assert.equal(run.code, 0);
    });
    await t.step("without --ignore-env", async () => {
      const run = await runChild([env, net], server.url(), schema);
      assert.match(run.stdout, /^error CONFIG_INVALID /, run.stderr);
      assert.match(run.stdout, /--ignore-env=PGBINARY,PGREPLICATION/);
    });
    await t.step("without --allow-net", async () => {
      const run = await runChild([env, ignoreEnv], server.url(), schema);
      assert.match(run.stdout, /^error CONFIG_INVALID /, run.stderr);
      assert.match(run.stdout, new RegExp(`--allow-net=127\\.0\\.0\\.1:${server.port}`));
    });
    await t.step("a host name needs --allow-net for the name", async () => {
      // Refused before any connection: whatever localhost resolves to here.
      const byName = server.url().replace("127.0.0.1", "localhost");
      const refused = await runChild([env, net, ignoreEnv], byName, schema);
      assert.match(refused.stdout, /^error CONFIG_INVALID /, refused.stderr);
      assert.match(refused.stdout, new RegExp(`--allow-net=localhost:${server.port}`));
    });
    await t.step("no secret in any output", async () => {
      for (const flags of [[env, net], [env, ignoreEnv]]) {
        const run = await runChild(flags, server.url(), schema);
        for (const text of [run.stdout, run.stderr]) {
          assert.ok(!text.includes(server.password), text);
          assert.ok(!text.includes(encodeURIComponent(server.password)), text);
        }
      }
    });
  } finally {
    await server.sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
});
