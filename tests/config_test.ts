import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CONFIG_ENV_VAR,
  type ConfigSources,
  DEFAULT_CONFIG,
  describeConfigKeys,
  jsonErrorLocation,
  loadConfig,
  PROJECT_CONFIG_PATH,
  USER_CONFIG_PATH,
  validateConfig,
} from "../src/setup/config.ts";
import { CoordinatorError, describeError, isCoordinatorError } from "../src/core/errors.ts";
import { runProbe, withTempDir } from "./_git_fixture.ts";

const ADAPTERS = ["local", "redis"];

/** A temp layout: a project root, a home dir and a cwd, all empty. */
interface Layout {
  dir: string;
  projectRoot: string;
  homeDir: string;
  cwd: string;
  projectFile: string;
  homeFile: string;
}

/** Runs `fn` with a fresh layout in a temp dir. */
function withLayout(fn: (layout: Layout) => Promise<void>): Promise<void> {
  return withTempDir(async (dir) => {
    const layout = {
      dir,
      projectRoot: join(dir, "project"),
      homeDir: join(dir, "home"),
      cwd: join(dir, "cwd"),
      projectFile: join(dir, "project", PROJECT_CONFIG_PATH),
      homeFile: join(dir, "home", USER_CONFIG_PATH),
    };
    for (const d of [layout.projectRoot, layout.homeDir, layout.cwd]) await Deno.mkdir(d);
    await fn(layout);
  });
}

/** ConfigSources for a layout, with an optional env map and overrides. */
function sourcesFor(
  layout: Layout,
  env: Record<string, string> = {},
  overrides: Partial<ConfigSources> = {},
): ConfigSources {
  return {
    env: (name) => env[name],
    projectRoot: layout.projectRoot,
    homeDir: layout.homeDir,
    cwd: layout.cwd,
    ...overrides,
  };
}

/** Writes `value` as JSON (or raw text) to `file`, creating parent directories. */
async function writeConfig(file: string, value: unknown): Promise<string> {
  await Deno.mkdir(join(file, ".."), { recursive: true });
  await Deno.writeTextFile(file, typeof value === "string" ? value : JSON.stringify(value));
  return file;
}

/** The CONFIG_INVALID error `fn` rejects with. */
async function configError(fn: () => Promise<unknown>): Promise<CoordinatorError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(isCoordinatorError(err, "CONFIG_INVALID"), String(err));
    return err;
  }
  assert.fail("expected CONFIG_INVALID");
}

/** The CONFIG_INVALID error validateConfig throws for `raw`. */
function validationError(raw: unknown, file: string | null = "/x/cfg.json"): CoordinatorError {
  try {
    validateConfig(raw, file, ADAPTERS);
  } catch (err) {
    assert.ok(isCoordinatorError(err, "CONFIG_INVALID"), String(err));
    return err;
  }
  assert.fail(`expected CONFIG_INVALID for ${JSON.stringify(raw)}`);
}

Deno.test("loadConfig: built-in defaults when no source applies", async () => {
  await withLayout(async (layout) => {
    assert.deepEqual(await loadConfig(sourcesFor(layout), ADAPTERS), {
      config: DEFAULT_CONFIG,
      source: null,
      origin: "defaults",
    });
    assert.deepEqual(await loadConfig(sourcesFor(layout, {}, { homeDir: null }), ADAPTERS), {
      config: DEFAULT_CONFIG,
      source: null,
      origin: "defaults",
    });
  });
});

Deno.test("loadConfig: sources in priority order, only the first one is read", async () => {
  await withLayout(async (layout) => {
    const ttl = (n: number) => ({ session: { lease_ttl_seconds: n } });
    const explicit = await writeConfig(join(layout.dir, "explicit.json"), ttl(10));
    const fromEnv = await writeConfig(join(layout.dir, "env.json"), ttl(20));
    await writeConfig(layout.projectFile, ttl(30));
    await writeConfig(layout.homeFile, ttl(40));
    const env = { [CONFIG_ENV_VAR]: fromEnv };

    const load = (sources: ConfigSources) => loadConfig(sources, ADAPTERS);
    const got = async (sources: ConfigSources) => {
      const loaded = await load(sources);
      return [loaded.source, loaded.config.session.lease_ttl_seconds];
    };
    assert.deepEqual(await got(sourcesFor(layout, env, { explicitPath: explicit })), [
      explicit,
      10,
    ]);
    assert.deepEqual(await got(sourcesFor(layout, env)), [fromEnv, 20]);
    assert.deepEqual(await got(sourcesFor(layout)), [layout.projectFile, 30]);
    await Deno.remove(layout.projectFile);
    assert.deepEqual(await got(sourcesFor(layout)), [layout.homeFile, 40]);
    // homeDir null skips the per-user file.
    assert.deepEqual(await got(sourcesFor(layout, {}, { homeDir: null })), [null, 60]);

    // Only one file is read: a broken lower-priority file does not matter.
    await writeConfig(layout.homeFile, "{ not json");
    assert.deepEqual(await got(sourcesFor(layout, env)), [fromEnv, 20]);
  });
});

Deno.test("loadConfig: relative explicit and env paths resolve against cwd; ~ is home", async () => {
  await withLayout(async (layout) => {
    const file = await writeConfig(join(layout.cwd, "conf", "c.json"), {});
    const inHome = await writeConfig(join(layout.homeDir, "mine.json"), {});
    const sourceOf = async (sources: ConfigSources) => (await loadConfig(sources, ADAPTERS)).source;
    assert.equal(await sourceOf(sourcesFor(layout, {}, { explicitPath: "conf/c.json" })), file);
    assert.equal(
      await sourceOf(sourcesFor(layout, {}, { explicitPath: "./conf/../conf/c.json" })),
      file,
    );
    assert.equal(await sourceOf(sourcesFor(layout, { [CONFIG_ENV_VAR]: "conf/c.json" })), file);
    assert.equal(await sourceOf(sourcesFor(layout, {}, { explicitPath: "~/mine.json" })), inHome);
    assert.equal(await sourceOf(sourcesFor(layout, { [CONFIG_ENV_VAR]: "~/mine.json" })), inHome);
    // An empty variable counts as unset.
    assert.equal(await sourceOf(sourcesFor(layout, { [CONFIG_ENV_VAR]: "" })), null);
  });
});

Deno.test("loadConfig: a missing explicit or env path is an error naming the path", async () => {
  await withLayout(async (layout) => {
    await writeConfig(layout.homeFile, {});
    const missing = join(layout.cwd, "typo.json");

    const explicit = await configError(() =>
      loadConfig(sourcesFor(layout, {}, { explicitPath: "typo.json" }), ADAPTERS)
    );
    assert.equal(explicit.message, `${missing}: (root): config file not found (named by --config)`);
    assert.equal(explicit.details.file, missing);

    const fromEnv = await configError(() =>
      loadConfig(sourcesFor(layout, { [CONFIG_ENV_VAR]: missing }), ADAPTERS)
    );
    assert.equal(
      fromEnv.message,
      `${missing}: (root): config file not found (named by ${CONFIG_ENV_VAR})`,
    );

    const empty = await configError(() =>
      loadConfig(sourcesFor(layout, {}, { explicitPath: " " }), ADAPTERS)
    );
    assert.equal(empty.message, "--config: must not be an empty path");
  });
});

Deno.test("loadConfig: unreadable files are errors naming the file, never skipped", async () => {
  await withLayout(async (layout) => {
    // A directory where a file should be: an error, even for the optional project file.
    await Deno.mkdir(layout.projectFile, { recursive: true });
    const err = await configError(() => loadConfig(sourcesFor(layout), ADAPTERS));
    assert.match(
      err.message,
      new RegExp(`^${RegExp.escape(layout.projectFile)}: \\(root\\): not a regular file`),
    );

    const dirAsExplicit = await configError(() =>
      loadConfig(sourcesFor(layout, {}, { explicitPath: layout.cwd }), ADAPTERS)
    );
    assert.ok(dirAsExplicit.message.startsWith(`${layout.cwd}: (root): not a regular file`));
  });
});

Deno.test({
  name: "loadConfig: a file without read permission names the file",
  ignore: Deno.build.os === "windows" || Deno.uid() === 0, // root reads everything
  fn: async () => {
    await withLayout(async (layout) => {
      const file = await writeConfig(layout.homeFile, {});
      await Deno.chmod(file, 0o000);
      const err = await configError(() => loadConfig(sourcesFor(layout), ADAPTERS));
      assert.ok(err.message.startsWith(`${file}: (root): cannot read: `), err.message);
    });
  },
});

Deno.test("loadConfig: a file Deno may not read (permission denied) names the file", async () => {
  await withLayout(async (layout) => {
    const file = await writeConfig(layout.homeFile, {});
    // Reading is allowed for the project root only, so the home file is refused.
    const out = await runProbe([`--allow-read=${layout.projectRoot}`], [
      "load-config",
      layout.projectRoot,
      layout.homeDir,
    ]);
    assert.equal(out.code, "CONFIG_INVALID");
    assert.ok(
      String(out.message).startsWith(`${file}: (root): cannot read: `),
      String(out.message),
    );
  });
});

Deno.test("loadConfig: a file setting only session keeps the default storage and limits", async () => {
  await withLayout(async (layout) => {
    await writeConfig(layout.projectFile, { session: { lease_ttl_seconds: 30, max_instances: 4 } });
    const { config } = await loadConfig(sourcesFor(layout), ADAPTERS);
    assert.deepEqual(config, {
      storage: { adapter: "local", config: {} },
      session: {
        machine_id: "auto",
        project_detection: "git",
        lease_ttl_seconds: 30,
        max_instances: 4,
      },
      limits: { max_value_bytes: 1048576 },
      audit: { enabled: true, retention_days: 14, max_events: 10000, include_values: false },
      dashboard: { host: "127.0.0.1", port: 4117 },
    });
    // The result is the caller's own: changing it leaves the frozen defaults alone.
    config.storage.config.base_path = "x";
    assert.deepEqual(DEFAULT_CONFIG.storage.config, {});
    assert.ok(Object.isFrozen(DEFAULT_CONFIG.storage.config));
  });
});

Deno.test("loadConfig: storage.config is free-form and merges over the default", async () => {
  await withLayout(async (layout) => {
    const storage = { adapter: "redis", config: { url: "redis://h:6379", nested: { a: [1] } } };
    await writeConfig(layout.projectFile, { storage });
    const { config } = await loadConfig(sourcesFor(layout), ADAPTERS);
    assert.deepEqual(config.storage, storage);
    assert.deepEqual(config.session, DEFAULT_CONFIG.session);
  });
});

Deno.test("validateConfig: every error names the file and the dotted field", () => {
  const cases: Array<[unknown, string]> = [
    [{ session: { lease_ttl_seconds: 4 } }, "session.lease_ttl_seconds: must be an integer >= 5"],
    [
      { session: { lease_ttl_seconds: 86401 } },
      "session.lease_ttl_seconds: must be an integer <= 86400",
    ],
    [
      { session: { lease_ttl_seconds: 2.5 } },
      "session.lease_ttl_seconds: must be an integer, got 2.5",
    ],
    [
      { session: { lease_ttl_seconds: "60" } },
      'session.lease_ttl_seconds: must be an integer, got "60"',
    ],
    [{ session: { max_instances: 0 } }, "session.max_instances: must be an integer >= 1"],
    [{ session: { max_instances: 1001 } }, "session.max_instances: must be an integer <= 1000"],
    [{ session: { max_instances: null } }, "session.max_instances: must be an integer, got null"],
    [{ session: { machine_id: 7 } }, "session.machine_id: must be a string, got 7"],
    [
      { session: { machine_id: "  " } },
      'session.machine_id: must not be empty (use "auto" for the host name)',
    ],
    [
      { session: { project_detection: "svn" } },
      'session.project_detection: must be "git" or "directory", got "svn"',
    ],
    [{ limits: { max_value_bytes: 0 } }, "limits.max_value_bytes: must be an integer >= 1"],
    [
      { limits: { max_value_bytes: 67108865 } },
      "limits.max_value_bytes: must be an integer <= 67108864",
    ],
    [
      { limits: { max_value_bytes: 1e300 } },
      "limits.max_value_bytes: must be an integer <= 67108864",
    ],
    [{ limits: { max_value_bytes: true } }, "limits.max_value_bytes: must be an integer, got true"],
    [
      { limits: { max_value_bytes: {} } },
      "limits.max_value_bytes: must be an integer, got an object",
    ],
    [{ storage: { adapter: 1 } }, "storage.adapter: must be a string, got 1"],
    [{ storage: { adapter: "" } }, "storage.adapter: must not be empty"],
    [{ storage: { config: [] } }, "storage.config: must be an object, got an array"],
    [
      { storage: { config: "x".repeat(50) } },
      `storage.config: must be an object, got "${"x".repeat(40)}…"`,
    ],
    [{ storage: null }, "storage: must be an object, got null"],
    [{ session: [] }, "session: must be an object, got an array"],
    [{ limits: 5 }, "limits: must be an object, got 5"],
    [
      { sesion: {} },
      "sesion: unknown key (known keys: audit, dashboard, limits, session, storage, trusted_projects)",
    ],
    [
      { session: { ttl: 5 } },
      "session.ttl: unknown key (known keys: lease_ttl_seconds, machine_id, max_instances, project_detection)",
    ],
    [{ storage: { path: "x" } }, "storage.path: unknown key (known keys: adapter, config)"],
    [{ limits: { max_keys: 1 } }, "limits.max_keys: unknown key (known keys: max_value_bytes)"],
    [
      { storage: { adapter: "nosuch" } },
      'storage.adapter: unknown adapter "nosuch" (available: local, redis)',
    ],
  ];
  for (const [raw, expected] of cases) {
    const err = validationError(raw);
    assert.equal(err.message, `/x/cfg.json: ${expected}`, JSON.stringify(raw));
    const colon = expected.indexOf(": ");
    assert.deepEqual(err.details, {
      file: "/x/cfg.json",
      issues: [{ path: expected.slice(0, colon), message: expected.slice(colon + 2) }],
    });
  }
});

Deno.test("validateConfig: accepts the boundaries and returns a fresh, complete config", () => {
  const config = validateConfig(
    {
      session: {
        lease_ttl_seconds: 5,
        max_instances: 1000,
        machine_id: "box",
        project_detection: "directory",
      },
      limits: { max_value_bytes: 67108864 },
    },
    "/x/cfg.json",
    ADAPTERS,
  );
  assert.deepEqual(config.session, {
    machine_id: "box",
    project_detection: "directory",
    lease_ttl_seconds: 5,
    max_instances: 1000,
  });
  assert.equal(
    validateConfig({ session: { lease_ttl_seconds: 86400 } }, null, ADAPTERS).session
      .lease_ttl_seconds,
    86400,
  );
  assert.ok(!("max_instances" in validateConfig({}, null, ADAPTERS).session));
  assert.ok(!Object.isFrozen(validateConfig({}, null, ADAPTERS).session));
});

Deno.test("validateConfig: several problems are reported together, one line each", () => {
  const err = validationError({
    storage: { adapter: "nosuch" },
    session: { lease_ttl_seconds: 1, extra: true },
    bogus: 1,
  });
  const lines = err.message.split("\n");
  assert.deepEqual(lines.sort(), [
    "/x/cfg.json: bogus: unknown key (known keys: audit, dashboard, limits, session, storage, trusted_projects)",
    "/x/cfg.json: session.extra: unknown key (known keys: lease_ttl_seconds, machine_id, max_instances, project_detection)",
    "/x/cfg.json: session.lease_ttl_seconds: must be an integer >= 5",
    '/x/cfg.json: storage.adapter: unknown adapter "nosuch" (available: local, redis)',
  ]);
  assert.equal((err.details.issues as unknown[]).length, 4);
});

Deno.test("validateConfig: without a file the message has no file prefix", () => {
  const err = validationError({ session: { lease_ttl_seconds: 1 } }, null);
  assert.equal(err.message, "session.lease_ttl_seconds: must be an integer >= 5");
  assert.equal(err.details.file, null);
});

Deno.test("validateConfig: unknown adapter lists the available ones, sorted", () => {
  assert.throws(
    () => validateConfig({ storage: { adapter: "nosuch" } }, null, ["redis", "local"]),
    { message: 'storage.adapter: unknown adapter "nosuch" (available: local, redis)' },
  );
  assert.throws(
    () => validateConfig({}, null, []),
    { message: 'storage.adapter: unknown adapter "local" (available: none)' },
  );
});

Deno.test("loadConfig: the defaults are checked against the registered adapters too", async () => {
  await withLayout(async (layout) => {
    const err = await configError(() => loadConfig(sourcesFor(layout), ["redis"]));
    assert.equal(err.message, 'storage.adapter: unknown adapter "local" (available: redis)');
  });
});

Deno.test("loadConfig: a file that is not a JSON object is an error", async () => {
  await withLayout(async (layout) => {
    for (
      const [text, got] of [["[1, 2]", "an array"], ["null", "null"], ['"text"', '"text"'], [
        "3",
        "3",
      ]]
    ) {
      await writeConfig(layout.projectFile, text);
      const err = await configError(() => loadConfig(sourcesFor(layout), ADAPTERS));
      assert.equal(err.message, `${layout.projectFile}: (root): must be a JSON object, got ${got}`);
    }
  });
});

Deno.test("loadConfig: malformed JSON names the file, line and column", async () => {
  await withLayout(async (layout) => {
    const cases: Array<[string, string]> = [
      // Messages with "at position N (line L column C)".
      ['{\n  "session": {\n    "lease_ttl_seconds": 30,\n  }\n}', "line 4, column 3"],
      ['{\n  "session": 01\n}', "line 2, column 15"],
      // "Unexpected token" messages carry no position: the text is scanned.
      ['{\n  "session": tru\n}', "line 2, column 14"],
      ["[1,\n  ]", "line 2, column 3"],
      // End of input: the position is the end of the text.
      ['{\n  "session": {', "line 2, column 15"],
      ["", "line 1, column 1"],
    ];
    for (const [text, where] of cases) {
      await writeConfig(layout.projectFile, text);
      const err = await configError(() => loadConfig(sourcesFor(layout), ADAPTERS));
      assert.ok(
        err.message.startsWith(`${layout.projectFile}: (root): invalid JSON at ${where}: `),
        `${JSON.stringify(text)} gave ${err.message}`,
      );
      assert.equal(err.cause, undefined, "no cause: the parser's message quotes the file");
      assert.ok(!err.message.includes("\n"), err.message);
    }
  });
});

Deno.test("loadConfig: JSON errors never quote the file's text (it may hold secrets)", async () => {
  await withLayout(async (layout) => {
    const text =
      '{"storage": {"adapter": "redis", "config": {"url": "redis://:hunter2@h", "tls": tru}}}';
    await writeConfig(layout.projectFile, text);
    const err = await configError(() => loadConfig(sourcesFor(layout), ADAPTERS));
    assert.ok(!err.message.includes("hunter2"), err.message);
    const column = text.indexOf("tru}") + 1;
    assert.ok(
      err.message.endsWith(`invalid JSON at line 1, column ${column}: Unexpected token '}'`),
      err.message,
    );
  });
});

Deno.test("loadConfig: a leading byte order mark is accepted", async () => {
  await withLayout(async (layout) => {
    await writeConfig(layout.projectFile, '\uFEFF{"session": {"lease_ttl_seconds": 9}}');
    const { config } = await loadConfig(sourcesFor(layout), ADAPTERS);
    assert.equal(config.session.lease_ttl_seconds, 9);
  });
});

Deno.test("jsonErrorLocation: reads both message styles, else scans the text", () => {
  const text = '{\n  "a": 1,\n  "b": x\n}';
  // Deno/V8 style with both, and each style alone.
  assert.deepEqual(
    jsonErrorLocation(text, "Unexpected token in JSON at position 20 (line 3 column 8)"),
    { line: 3, column: 8 },
  );
  assert.deepEqual(jsonErrorLocation(text, "Bad thing at line 3 column 8"), { line: 3, column: 8 });
  assert.deepEqual(jsonErrorLocation(text, "Unexpected token x in JSON at position 19"), {
    line: 3,
    column: 8,
  });
  assert.deepEqual(jsonErrorLocation("ab", "at position 99"), { line: 1, column: 3 });
  assert.deepEqual(jsonErrorLocation("{\n", "Unexpected end of JSON input"), {
    line: 2,
    column: 1,
  });
  // No position in the message: scanning finds it.
  assert.deepEqual(jsonErrorLocation(text, "Unexpected token 'x'"), { line: 3, column: 8 });
  const scan = (t: string) => jsonErrorLocation(t, "Unexpected token");
  const valid = '{"a": [1, {"b": "c\\u00e9\\n"}, true, null, -1.5e+3]';
  assert.deepEqual(scan(`${valid} x`), { line: 1, column: valid.length + 2 });
  assert.deepEqual(scan('{"a" 1}'), { line: 1, column: 6 });
  assert.deepEqual(scan('{"a": "\\q"}'), { line: 1, column: 8 });
  assert.deepEqual(scan("{} {}"), { line: 1, column: 4 });
  assert.deepEqual(scan('"unterminated'), { line: 1, column: 14 });
  assert.deepEqual(scan("[]"), null);
  assert.deepEqual(scan("{}"), null);
  // Absurd nesting overflows the scanner's stack: no position rather than a crash.
  assert.equal(scan("[".repeat(1_000_000)), null);
});

Deno.test("describeConfigKeys: covers every key of DEFAULT_CONFIG and the optional ones", () => {
  const described = describeConfigKeys();
  const keys = described.map(({ key }) => key);
  assert.equal(new Set(keys).size, keys.length);

  /** Dotted paths of every leaf of a plain object (an empty object is a leaf). */
  const leaves = (value: unknown, prefix = ""): string[] =>
    typeof value === "object" && value !== null && Object.keys(value).length > 0
      ? Object.entries(value).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k))
      : [prefix];
  const defaults = leaves(DEFAULT_CONFIG);
  assert.deepEqual(keys.filter((key) => defaults.includes(key)).sort(), defaults.sort());
  const optional: Record<string, string> = {
    "session.max_instances": "unbounded",
    "dashboard.token": "none",
    "trusted_projects": "none",
  };
  assert.deepEqual(
    keys.filter((key) => !defaults.includes(key)).sort(),
    Object.keys(optional).sort(),
  );

  for (const { key, default: value, description } of described) {
    assert.ok(description.length > 10, key);
    if (key in optional) {
      assert.equal(value, optional[key], key);
      continue;
    }
    const actual = key.split(".").reduce<unknown>(
      (obj, part) => (obj as Record<string, unknown>)[part],
      DEFAULT_CONFIG,
    );
    assert.deepEqual(JSON.parse(value), actual, key);
  }
});

Deno.test("describeConfigKeys: every described key is accepted by the schema", () => {
  for (const { key } of describeConfigKeys()) {
    const [section, field] = key.split(".");
    const sample: Record<string, unknown> = {
      "storage.adapter": "redis",
      "storage.config": { any: "thing" },
      "session.machine_id": "box",
      "session.project_detection": "directory",
      "session.lease_ttl_seconds": 30,
      "session.max_instances": 3,
      "limits.max_value_bytes": 100,
      "trusted_projects": ["/home/me/code/widgets"],
      "audit.enabled": false,
      "audit.retention_days": 30,
      "audit.max_events": 500,
      "audit.include_values": true,
      "dashboard.host": "0.0.0.0",
      "dashboard.port": 8080,
      "dashboard.token": "0123456789abcdef0123",
    };
    assert.ok(key in sample, `test lacks a sample for ${key}`);
    if (field === undefined) {
      const config = validateConfig({ [section]: sample[key] }, null, ADAPTERS);
      assert.deepEqual((config as unknown as Record<string, unknown>)[section], sample[key]);
      continue;
    }
    const config = validateConfig({ [section]: { [field]: sample[key] } }, null, ADAPTERS);
    assert.deepEqual(
      (config as unknown as Record<string, Record<string, unknown>>)[section][field],
      sample[key],
    );
  }
});

Deno.test("a $schema key is accepted and dropped; a __proto__ key is reported, not merged", () => {
  const validate = validateConfig;
  const cfg = validate(
    { $schema: "https://example.com/s.json", session: { lease_ttl_seconds: 30 } },
    "f.json",
    [
      "local",
    ],
  );
  assert.deepEqual(Object.keys(cfg).sort(), ["audit", "dashboard", "limits", "session", "storage"]);
  assert.equal(cfg.session.lease_ttl_seconds, 30);
  assert.throws(
    () => validate(JSON.parse('{"__proto__": {"x": 1}}'), "f.json", ["local"]),
    /__proto__: unknown key/,
  );
});

Deno.test("malformed JSON errors carry no cause that could print the file's secrets", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "cfg.json");
    await Deno.writeTextFile(file, '{"storage": {"config": {"url": "redis://:hunter2@h"}},, }');
    try {
      await loadConfig(
        { explicitPath: file, env: () => undefined, projectRoot: dir, homeDir: null, cwd: dir },
        ["local"],
      );
      assert.fail("expected CONFIG_INVALID");
    } catch (err) {
      assert.ok(isCoordinatorError(err, "CONFIG_INVALID"));
      assert.equal(err.cause, undefined);
      assert.ok(!describeError(err).includes("hunter2"), describeError(err));
    }
  });
});
