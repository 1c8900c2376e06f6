/**
 * The postgres adapter: the shared storage contract over a real PostgreSQL
 * server, plus what only PostgreSQL has: the table layout and its indexes,
 * schemas side by side, migrations under concurrent starts, config checks,
 * credentials and privileges, TLS, the sweep, a schema dropped under a
 * running adapter.
 *
 * One server serves the whole file (initdb takes about a second); every test
 * works in a schema of its own. Outages, restarts and the change feed across
 * restarts are in postgres_outage_test.ts, which needs servers of its own.
 */
import assert from "node:assert/strict";
import { CoordinatorError, describeError } from "../src/core/errors.ts";
import type { AdapterLimits, StorageAdapter } from "../src/storage/contract.ts";
import { DEFAULT_MAX_VALUE_BYTES } from "../src/storage/contract.ts";
import {
  createPostgresAdapter,
  postgresAdapterFactory,
  type PostgresAdapterOptions,
} from "../src/storage/postgres/adapter.ts";
import pg from "../src/storage/postgres/_pg.ts";
import { rejectsWithCode, runStorageContract } from "../src/storage/testing/contract_suite.ts";
import {
  freshSchema,
  lazyPostgresServer,
  type PostgresServer,
  skipPostgresTests,
} from "./_postgres_server.ts";

const ignore = skipPostgresTests();
const shared = lazyPostgresServer();
if (!ignore) Deno.test.afterAll(() => shared.stop());
const LIMITS: AdapterLimits = { maxValueBytes: DEFAULT_MAX_VALUE_BYTES };

/** Every way an error could carry a secret out: message, details, cause chain, JSON. */
function errorText(err: unknown): string {
  const details = err instanceof CoordinatorError ? JSON.stringify(err.details) : "";
  return [String(err), describeError(err), details, JSON.stringify(err)].join("\n");
}

/** Opens an adapter on the shared server in a fresh schema (or the one given), always closing it. */
async function withAdapter(
  fn: (adapter: StorageAdapter, server: PostgresServer, schema: string) => Promise<void>,
  options: Partial<PostgresAdapterOptions> = {},
): Promise<void> {
  const server = await shared.get();
  const schema = options.schema ?? freshSchema();
  const adapter = await createPostgresAdapter({
    url: server.url(),
    limits: LIMITS,
    ...options,
    schema,
  });
  try {
    await fn(adapter, server, schema);
  } finally {
    await adapter.close();
    await server.sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

// ---------------------------------------------------------------------------
// The shared contract, unchanged.

if (!ignore) {
  runStorageContract("postgres", async (limits, now) => {
    const server = await shared.get();
    const schema = freshSchema();
    const open = () => createPostgresAdapter({ url: server.url(), schema, limits, now });
    const adapter = await open();
    return {
      adapter,
      open,
      // A restored or wiped database: every row gone, the counters too.
      wipe: async () => {
        await server.sql(`TRUNCATE "${schema}".entries, "${schema}".scopes`);
      },
      cleanup: async () => {
        await adapter.close();
        await server.sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      },
    };
  });
} else {
  Deno.test({ name: "postgres contract (skipped: no PostgreSQL)", ignore: true, fn() {} });
}

// ---------------------------------------------------------------------------
// Config: checked before anything connects (no server needed).

Deno.test("postgres config: bad fields are CONFIG_INVALID naming the field, never the password", async (t) => {
  const context = { projectRoot: "/nowhere", limits: LIMITS };
  const password = "hunter2-S3cret";
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["no url", {}, /storage\.config\.url: is required/],
    ["not a string", { url: 5 }, /storage\.config\.url/],
    ["another scheme", { url: `redis://u:${password}@h` }, /postgres:\/\//],
    ["unknown field", { url: "postgres://u@h/db", pool: 5 }, /storage\.config\.pool: unknown/],
    ["upper-case schema", { url: "postgres://u@h/db", schema: "Csc" }, /storage\.config\.schema/],
    ["schema with a dash", { url: "postgres://u@h/db", schema: "a-b" }, /lower-case identifier/],
    ["pg_ schema", { url: "postgres://u@h/db", schema: "pg_csc" }, /reserved/],
    ["public schema", { url: "postgres://u@h/db", schema: "public" }, /reserved/],
    ["long schema", { url: "postgres://u@h/db", schema: "s".repeat(49) }, /at most 48/],
    ["timeout", { url: "postgres://u@h/db", command_timeout_ms: 5 }, /at least 100/],
    ["no user", { url: `postgres://:${password}@h/db` }, /names no user/],
    ["no host", { url: "postgres:///db" }, /names no host/],
    ["two hosts", { url: `postgres://u:${password}@a,b/db` }, /several hosts/],
    ["bad port", { url: `postgres://u:${password}@h:99999/db` }, /storage\.config\.url/],
    ["sslmode prefer", { url: "postgres://u@h/db?sslmode=prefer" }, /fall back/],
    ["sslmode bogus", { url: "postgres://u@h/db?sslmode=maybe" }, /use one of/],
    ["unknown parameter", { url: `postgres://u:${password}@h/db?foo=1` }, /"foo"/],
    [
      "unreadable CA",
      { url: "postgres://u@h/db?sslmode=verify-full&sslrootcert=ca.pem" },
      /ca\.pem/,
    ],
    ["password breaking the URL", { url: `postgres://u:${password}/x@h:5432/db` }, /url/],
  ];
  for (const [name, config, message] of cases) {
    await t.step(name, async () => {
      const err = await rejectsWithCode(
        () => postgresAdapterFactory(config, context),
        "CONFIG_INVALID",
      );
      assert.match(err.message, message);
      assert.ok(!errorText(err).includes(password), errorText(err));
    });
  }
});

// ---------------------------------------------------------------------------
// PostgreSQL-specific behaviour, on the shared server.

Deno.test(
  { name: "postgres: table layout, stored rows and the version table", ignore },
  async () => {
    await withAdapter(async (adapter, server, schema) => {
      const written = await adapter.store("team:a", "k", { x: "\u0000", y: [1] }, {
        updatedBy: "claude_1",
        heldBy: "claude_1/s",
        ttlSeconds: 60,
      });
      const tables = await server.sql<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
        [schema],
      );
      assert.deepEqual(tables.map((r) => r.table_name), ["entries", "schema_version", "scopes"]);
      const [version] = await server.sql<{ version: number }>(
        `SELECT max(version) AS version FROM "${schema}".schema_version`,
      );
      assert.equal(version.version, 1);
      const [row] = await server.sql<Record<string, unknown>>(
        `SELECT scope, encode(ord, 'hex') AS ord, key, value, version::text, updated_at,
              updated_by, expires_at::text, held_by FROM "${schema}".entries`,
      );
      assert.deepEqual(row, {
        scope: "team:a",
        ord: "006b", // "k" as UTF-16BE
        key: "k",
        value: '{"x":"\\u0000","y":[1]}', // the JSON text as written
        version: String(written.version),
        updated_at: written.updatedAt,
        updated_by: "claude_1",
        expires_at: String(Date.parse(written.expiresAt!)),
        held_by: "claude_1/s",
      });
      const [counter] = await server.sql<{ name: string; seq: string }>(
        `SELECT name, seq::text FROM "${schema}".scopes`,
      );
      assert.deepEqual(counter, { name: "team:a", seq: String(written.version) });
      // The counter outlives the keys, so a re-created scope counts on.
      await adapter.deleteScope("team:a");
      const [after] = await server.sql<{ seq: string }>(`SELECT seq::text FROM "${schema}".scopes`);
      assert.equal(after.seq, String(written.version));
    });
  },
);

Deno.test({ name: "postgres: listing uses the indexes, not every row", ignore }, async () => {
  await withAdapter(async (adapter, server, schema) => {
    await adapter.store("proj:a", "t:1", 1);
    // Planner choices depend on table sizes; with sequential scans off, a
    // plan that can use an index will, and one that cannot still scans.
    const plan = async (sql: string) =>
      (await server.sql<{ "QUERY PLAN": string }>(
        `SET enable_seqscan = off; EXPLAIN ${sql}`,
      )).map((r) => r["QUERY PLAN"]).join("\n");
    const keys = await plan(
      `SELECT key FROM "${schema}".entries WHERE scope = 'proj:a' AND ord >= '\\x0074003a'
       AND ord < '\\x0074003b' AND (expires_at IS NULL OR expires_at > 0) ORDER BY ord LIMIT 2`,
    );
    assert.match(keys, /Index (Only )?Scan using entries_pkey/, keys);
    const scopes = await plan(
      `SELECT s.name FROM "${schema}".scopes s WHERE s.name LIKE 'proj:%' AND EXISTS
       (SELECT 1 FROM "${schema}".entries e WHERE e.scope = s.name
        AND (e.expires_at IS NULL OR e.expires_at > 0))`,
    );
    assert.match(scopes, /Index Cond: \(\(name >= 'proj:'::text\) AND \(name < 'proj;'::text\)\)/);
    const sweep = await plan(`SELECT 1 FROM "${schema}".entries WHERE expires_at <= 5`);
    assert.match(sweep, /entries_expiry/, sweep);
  });
});

Deno.test(
  { name: "postgres: keys sort like JavaScript strings, also above U+FFFF", ignore },
  async () => {
    await withAdapter(async (adapter) => {
      // By code point U+FEFF < U+1F600; by UTF-16 code unit 0xD83D < 0xFEFF.
      const keys = ["\ufeff", "😀", "a", "\uffff", "\ue000", "😀b", "z"];
      for (const key of keys) await adapter.store("order", key, key);
      const sorted = [...keys].sort();
      assert.deepEqual(await adapter.listKeys("order"), sorted);
      assert.deepEqual(await adapter.listKeys("order", { limit: 3 }), sorted.slice(0, 3));
      assert.deepEqual(await adapter.listKeys("order", { prefix: "😀" }), ["😀", "😀b"]);
      assert.deepEqual(await adapter.listKeys("order", { prefix: "\uffff" }), ["\uffff"]);
      for (const scope of ["\ufeff", "😀"]) await adapter.store(scope, "k", 1);
      assert.deepEqual(await adapter.listScopes("[\ufeff😀]"), ["😀", "\ufeff"]);
    });
  },
);

Deno.test(
  { name: "postgres: LIKE wildcards in scope names are plain characters", ignore },
  async () => {
    await withAdapter(async (adapter) => {
      for (const scope of ["a%b", "a_b", "axb", "a\\b", "a%"]) await adapter.store(scope, "k", 1);
      assert.deepEqual(await adapter.listScopes("a%*"), ["a%", "a%b"]);
      assert.deepEqual(await adapter.listScopes("a_*"), ["a_b"]);
      assert.deepEqual(await adapter.listScopes("a\\*"), ["a\\b"]);
      assert.deepEqual(await adapter.listScopes("a?b"), ["a%b", "a\\b", "a_b", "axb"]);
    });
  },
);

Deno.test({ name: "postgres: schemas isolate deployments in one database", ignore }, async () => {
  const server = await shared.get();
  const [s1, s2] = [freshSchema(), freshSchema()];
  const a = await createPostgresAdapter({ url: server.url(), schema: s1, limits: LIMITS });
  const b = await createPostgresAdapter({ url: server.url(), schema: s2, limits: LIMITS });
  const heard: string[] = [];
  const stop = b.watch((c) => heard.push(...("all" in c ? ["*"] : c.scopes)));
  try {
    await a.store("shared", "k", "from a");
    assert.equal(await b.retrieve("shared", "k"), null);
    assert.deepEqual(await b.listScopes(), []);
    await b.store("shared", "k", "from b");
    assert.equal(await b.deleteScope("shared"), true);
    assert.equal((await a.retrieve("shared", "k"))?.value, "from a");
    // Each schema has its own channel: b hears its own writes, never a's.
    await waitFor("b's feed", () => heard.includes("*"));
    await a.store("only-a", "k", 1);
    await b.store("only-b", "k", 1);
    await waitFor("b's own write", () => heard.includes("only-b"));
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!heard.includes("only-a"), heard.join());
  } finally {
    stop();
    await a.close();
    await b.close();
    await server.sql(`DROP SCHEMA "${s1}" CASCADE; DROP SCHEMA "${s2}" CASCADE`);
  }
});

Deno.test(
  { name: "postgres: servers starting at once create the schema exactly once", ignore },
  async () => {
    const server = await shared.get();
    const schema = freshSchema();
    const adapters = await Promise.all(
      Array.from(
        { length: 6 },
        () => createPostgresAdapter({ url: server.url(), schema, limits: LIMITS }),
      ),
    );
    try {
      await Promise.all(adapters.map((a, i) => a.store("s", `k${i}`, i)));
      assert.equal((await adapters[0].listKeys("s")).length, 6);
      const rows = await server.sql(`SELECT version FROM "${schema}".schema_version`);
      assert.equal(rows.length, 1);
    } finally {
      for (const a of adapters) await a.close();
      await server.sql(`DROP SCHEMA "${schema}" CASCADE`);
    }
  },
);

Deno.test({ name: "postgres: a password in the URL works and never leaks", ignore }, async () => {
  const server = await shared.get();
  assert.ok(server.url().includes(encodeURIComponent(server.password)));
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);
  await withAdapter(async (adapter) => {
    await adapter.store("s", "k", "v");
    assert.equal((await adapter.retrieve("s", "k"))?.value, "v");
  }, { log });

  const wrongPassword = "wr0ng-Secret";
  const wrong = await rejectsWithCode(
    () =>
      createPostgresAdapter({
        url: server.url({ password: wrongPassword }),
        schema: freshSchema(),
        limits: LIMITS,
        log,
      }),
    "CONFIG_INVALID",
  );
  assert.match(wrong.message, /password authentication failed/);
  assert.match(wrong.message, new RegExp(`127\\.0\\.0\\.1:${server.port}`));
  assert.match(wrong.message, /Fix the user name or password/);
  const noUser = await rejectsWithCode(
    () =>
      createPostgresAdapter({
        url: server.url({ user: "nobody_here", password: wrongPassword }),
        limits: LIMITS,
      }),
    "CONFIG_INVALID",
  );
  const noDb = await rejectsWithCode(
    () => createPostgresAdapter({ url: server.url({ database: "nope" }), limits: LIMITS, log }),
    "CONFIG_INVALID",
  );
  assert.match(noDb.message, /no database "nope"/);
  const noPassword = await rejectsWithCode(
    () => createPostgresAdapter({ url: server.url({ password: null }), limits: LIMITS, log }),
    "CONFIG_INVALID",
  );
  for (const text of [...[wrong, noUser, noDb, noPassword].map(errorText), ...lines]) {
    for (const secret of [server.password, encodeURIComponent(server.password), wrongPassword]) {
      assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    }
  }
});

Deno.test({
  name: "postgres: missing privileges are CONFIG_INVALID with the GRANTs to run",
  ignore,
}, async () => {
  const server = await shared.get();
  const role = `r_${crypto.randomUUID().slice(0, 8)}`;
  const rolePassword = "role-Pw-1";
  const schema = freshSchema();
  const url = server.url({ user: role, password: rolePassword });
  await server.sql(`CREATE ROLE ${role} LOGIN PASSWORD '${rolePassword}'`);
  try {
    // No CREATE on the database: it cannot make its schema.
    const create = await rejectsWithCode(
      () => createPostgresAdapter({ url, schema, limits: LIMITS }),
      "CONFIG_INVALID",
    );
    assert.match(create.message, /GRANT CREATE ON DATABASE "postgres" TO/);
    assert.match(create.message, new RegExp(`CREATE SCHEMA "${schema}" AUTHORIZATION`));

    // An owner made the tables; the role may use the schema but not the tables.
    const owner = await createPostgresAdapter({ url: server.url(), schema, limits: LIMITS });
    await owner.close();
    await server.sql(`GRANT USAGE ON SCHEMA "${schema}" TO ${role}`);
    const tables = await rejectsWithCode(
      () => createPostgresAdapter({ url, schema, limits: LIMITS }),
      "CONFIG_INVALID",
    );
    assert.match(tables.message, /lacks privileges/);
    assert.match(
      tables.message,
      new RegExp(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}"`),
    );

    // Exactly the documented GRANTs are enough for everything, the change feed too.
    await server.sql(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO ${role}`,
    );
    const adapter = await createPostgresAdapter({ url, schema, limits: LIMITS });
    const seen: string[] = [];
    const stop = adapter.watch((c) => seen.push(...("all" in c ? ["*"] : c.scopes)));
    try {
      // The feed reports { all: true } once it listens; from then on, scopes.
      await waitFor("the feed to listen", () => seen.includes("*"));
      await adapter.store("s", "k", 1, { ttlSeconds: 60 });
      await adapter.writeBatch("s", [{ op: "set", key: "b", value: 2 }]);
      assert.deepEqual(await adapter.listScopes(), ["s"]);
      assert.equal(await adapter.delete("s", "k"), true);
      assert.equal(await adapter.deleteScope("s"), true);
      await adapter.store("s", "again", 1);
      await waitFor("a change of s", () => seen.includes("s"));
    } finally {
      stop();
      await adapter.close();
    }
  } finally {
    await server.sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP ROLE ${role}`);
  }
});

Deno.test(
  { name: "postgres: a schema dropped under a running adapter is made again", ignore },
  async () => {
    await withAdapter(async (adapter, server, schema) => {
      const before = (await adapter.store("s", "k", 1)).version;
      await server.sql(`DROP SCHEMA "${schema}" CASCADE`);
      assert.equal(await adapter.retrieve("s", "k"), null);
      const after = (await adapter.store("s", "k", 2)).version;
      assert.ok(after > before, `${after} > ${before}`);
      assert.equal((await adapter.retrieve("s", "k"))?.value, 2);
    });
  },
);

Deno.test({ name: "postgres: an unreadable row is CORRUPT_STATE naming it", ignore }, async () => {
  await withAdapter(async (adapter, server, schema) => {
    await adapter.store("s", "bad", 1);
    await adapter.store("s", "good", 1);
    await server.sql(`UPDATE "${schema}".entries SET value = 'not json' WHERE key = 'bad'`);
    const err = await rejectsWithCode(() => adapter.retrieve("s", "bad"), "CORRUPT_STATE");
    assert.match(err.message, /s \/ bad/);
    assert.equal((await adapter.retrieve("s", "good"))?.value, 1);
  });
});

Deno.test(
  { name: "postgres: the sweep purges expired rows, in bounded batches", ignore },
  async () => {
    await withAdapter(async (adapter, server, schema) => {
      await adapter.store("s", "brief", 1, { ttlSeconds: 0.1 });
      await adapter.store("s", "long", 1, { ttlSeconds: 600 });
      await adapter.store("s", "forever", 1);
      assert.deepEqual(await adapter.listKeys("s"), ["forever", "long", "brief"].sort());
      await new Promise((r) => setTimeout(r, 200));
      // Invisible at once; the row itself goes with the next sweep (after a 1 s grace).
      assert.deepEqual(await adapter.listKeys("s"), ["forever", "long"]);
      await waitFor(
        "the sweep",
        async () =>
          (await server.sql(`SELECT key FROM "${schema}".entries ORDER BY key`))
            .map((r) => r.key).join() === "forever,long",
      );
    }, { sweepIntervalMs: 200 });
  },
);

Deno.test(
  { name: "postgres: now() follows the server's clock, not this machine's", ignore },
  async () => {
    const lines: string[] = [];
    const hour = 3_600_000;
    await withAdapter(async (adapter, server) => {
      const [row] = await server.sql<{ ms: number }>(
        "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms",
      );
      assert.ok(Math.abs(adapter.now() - row.ms) < 2_000, `${adapter.now()} vs ${row.ms}`);
      const written = await adapter.store("s", "k", 1, { ttlSeconds: 60 });
      assert.ok(Math.abs(Date.parse(written.expiresAt!) - (row.ms + 60_000)) < 5_000);
      assert.ok(lines.some((l) => /clock runs 3600\.\d s ahead of the server's/.test(l)), lines[0]);
    }, { localClock: () => Date.now() + hour, log: (line) => lines.push(line) });
  },
);

Deno.test(
  { name: "postgres: a server on this machine leaves this machine's clock as it is", ignore },
  async () => {
    // Each process measures the offset on its own; any error would put two
    // processes' timestamps out of order (a claim before the completion it followed).
    for (let i = 0; i < 5; i++) {
      await withAdapter(async (adapter) => {
        await adapter.listKeys("probe");
        const before = Date.now();
        const now = adapter.now();
        const after = Date.now();
        assert.ok(before <= now && now <= after, `${before} <= ${now} <= ${after}`);
      });
    }
  },
);

Deno.test(
  { name: "postgres: a write in one adapter reaches another's watcher within 1 s", ignore },
  async () => {
    await withAdapter(async (writer, server, schema) => {
      const reader = await createPostgresAdapter({ url: server.url(), schema, limits: LIMITS });
      const heard = new Map<string, number>();
      const stop = reader.watch((change) => {
        if ("scopes" in change) { for (const s of change.scopes) heard.set(s, performance.now()); }
      });
      try {
        // The feed is listening once it reported { all: true }; give it time.
        await writer.store("warmup", "k", 1);
        await waitFor("the feed to listen", () => heard.has("warmup"), 10_000, async () => {
          await writer.store("warmup", "k", 1);
        });
        const latencies: number[] = [];
        for (let i = 0; i < 5; i++) {
          const scope = `latency:${i}`;
          const start = performance.now();
          await writer.store(scope, "k", i);
          await waitFor(scope, () => heard.has(scope), 1_000);
          latencies.push(heard.get(scope)! - start);
        }
        console.log(`  change feed latency: ${latencies.map((l) => l.toFixed(1)).join(", ")} ms`);
      } finally {
        stop();
        await reader.close();
      }
    });
  },
);

/** Polls `ok` until it holds, failing after `ms`; `nudge` runs between polls. */
async function waitFor(
  what: string,
  ok: () => boolean | Promise<boolean>,
  ms = 10_000,
  nudge?: () => Promise<void>,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await ok())) {
    if (performance.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
    await nudge?.();
  }
}

Deno.test({
  name: "postgres: sslmode=require against a server without TLS is CONFIG_INVALID",
  ignore,
}, async () => {
  const server = await shared.get();
  const err = await rejectsWithCode(
    () => createPostgresAdapter({ url: `${server.url()}?sslmode=require`, limits: LIMITS }),
    "CONFIG_INVALID",
  );
  assert.match(err.message, /does not accept TLS/);
  assert.match(err.message, /sslmode=disable/);
});

Deno.test(
  { name: "postgres: a schema made by a newer version is refused, not touched", ignore },
  async () => {
    const server = await shared.get();
    const schema = freshSchema();
    try {
      await (await createPostgresAdapter({ url: server.url(), schema, limits: LIMITS })).close();
      await server.sql(`INSERT INTO "${schema}".schema_version (version) VALUES (2)`);
      const err = await rejectsWithCode(
        () => createPostgresAdapter({ url: server.url(), schema, limits: LIMITS }),
        "CONFIG_INVALID",
      );
      assert.match(err.message, /has version 2, made by a newer/);
    } finally {
      await server.sql(`DROP SCHEMA "${schema}" CASCADE`);
    }
  },
);

Deno.test(
  { name: "postgres: a schema the user may not create tables in names the fix", ignore },
  async () => {
    const server = await shared.get();
    const role = `r_${crypto.randomUUID().slice(0, 8)}`;
    const schema = freshSchema();
    await server.sql(
      `CREATE ROLE ${role} LOGIN PASSWORD 'pw'; CREATE SCHEMA "${schema}";
     GRANT USAGE ON SCHEMA "${schema}" TO ${role}`,
    );
    try {
      const err = await rejectsWithCode(
        () =>
          createPostgresAdapter({
            url: server.url({ user: role, password: "pw" }),
            schema,
            limits: LIMITS,
          }),
        "CONFIG_INVALID",
      );
      assert.match(err.message, new RegExp(`ALTER SCHEMA "${schema}" OWNER TO "${role}"`));
    } finally {
      await server.sql(`DROP SCHEMA "${schema}" CASCADE; DROP ROLE ${role}`);
    }
  },
);

Deno.test(
  { name: "postgres: a read-only server is STORAGE_UNAVAILABLE saying so", ignore },
  async () => {
    const server = await shared.get();
    // A role whose transactions are read-only, as on a standby. (A database
    // of its own would do too, but DROP DATABASE can wait a minute for every
    // process of the server to acknowledge it.)
    const role = `ro_${crypto.randomUUID().slice(0, 8)}`;
    const schema = freshSchema();
    await server.sql(
      `CREATE ROLE ${role} LOGIN PASSWORD 'pw'; ALTER ROLE ${role} SET default_transaction_read_only = on;
     CREATE SCHEMA "${schema}" AUTHORIZATION ${role}`,
    );
    try {
      const lines: string[] = [];
      const adapter = await createPostgresAdapter({
        url: server.url({ user: role, password: "pw" }),
        schema,
        limits: LIMITS,
        log: (line) => lines.push(line),
      });
      try {
        assert.match(lines.join("\n"), /read-only/);
        const err = await rejectsWithCode(() => adapter.store("s", "k", 1), "STORAGE_UNAVAILABLE");
        assert.match(err.message, /read-only.*primary/);
      } finally {
        await adapter.close();
      }
    } finally {
      await server.sql(`DROP SCHEMA "${schema}" CASCADE; DROP ROLE ${role}`);
    }
  },
);

Deno.test({
  name: "postgres: a lock another transaction keeps is STORAGE_UNAVAILABLE within the budget, " +
    "and the write is not applied",
  ignore,
}, async () => {
  await withAdapter(async (adapter, server, schema) => {
    await adapter.store("locked", "k", "before");
    // Another session locks the scope's row and keeps its transaction open,
    // as a frozen process in the middle of a write would.
    const holder = new pg.Client({ connectionString: server.url() });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query(`SELECT * FROM "${schema}".scopes WHERE name = 'locked' FOR UPDATE`);
      const start = performance.now();
      const err = await rejectsWithCode(
        () => adapter.store("locked", "k", "during"),
        "STORAGE_UNAVAILABLE",
      );
      const ms = performance.now() - start;
      assert.ok(ms < 3_000, `answered in ${ms.toFixed(0)} ms`);
      assert.match(err.message, /127\.0\.0\.1/);
      await holder.query("ROLLBACK");
    } finally {
      await holder.end();
    }
    assert.equal((await adapter.retrieve("locked", "k"))?.value, "before");
    await adapter.store("locked", "k", "after");
  }, { commandTimeoutMs: 500 });
});
