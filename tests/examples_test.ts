/**
 * The examples and the README stay true to the code: every example config
 * passes `--validate-config` through the real CLI (the Redis and PostgreSQL
 * ones against a throwaway server), every client config has the shape its
 * client expects and exactly the `start` task's narrow permissions, the
 * README names every tool, error code, config key and resource, and
 * docs/API.md documents every tool, error code and resource.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import meta from "../deno.json" with { type: "json" };
import { describeConfigKeys } from "../src/setup/config.ts";
import { ERROR_HINTS } from "../src/core/errors.ts";
import { TOOL_NAMES } from "../src/mcp/tools/mod.ts";
import { RESOURCE_TEMPLATES } from "../src/mcp/resources.ts";
import { builtinRegistry } from "../src/storage/builtin.ts";
import { run, type RunResult } from "./_git_fixture.ts";
import { redisAvailable, startRedisServer } from "./_redis_server.ts";
import { skipPostgresTests, startPostgresServer } from "./_postgres_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = join(ROOT, "main.ts");
const EXAMPLES = join(ROOT, "examples");
const CLIENTS = join(EXAMPLES, "clients");
const ERROR_CODES = Object.keys(ERROR_HINTS);

/** The `--allow-*` flags of the `start` task, in order: the permissions every example must use. */
const START_FLAGS = meta.tasks.start.split(/\s+/).filter((a) => a.startsWith("--allow-"));

/** JSON files directly inside `dir`, sorted. */
async function jsonFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".json")) out.push(join(dir, e.name));
  }
  return out.sort();
}

/** Runs `fn` in a fresh git repository (the CLI detects the project from its cwd). */
async function withGitRepo<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "csc-examples-" }));
  try {
    const git = await new Deno.Command("git", {
      args: ["init", "-q"],
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(git.success, `git init failed: ${new TextDecoder().decode(git.stderr)}`);
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `main.ts --validate-config --config <file>` as a child process in `cwd`. */
function validateConfigCli(file: string, cwd: string): Promise<RunResult> {
  return run(Deno.execPath(), ["run", "-A", MAIN, "--validate-config", "--config", file], { cwd });
}

/** Asserts a successful validation and returns the printed report. */
function expectValid(result: RunResult, file: string) {
  assert.equal(result.code, 0, `${file} is not valid:\n${result.stderr}`);
  const report = JSON.parse(result.stdout);
  assert.equal(report.valid, true);
  return report;
}

/** The value at a dotted path of an object. */
function valueAt(root: unknown, dotted: string): unknown {
  let cur = root;
  for (const part of dotted.split(".")) {
    cur = cur !== null && typeof cur === "object"
      ? (cur as Record<string, unknown>)[part]
      : undefined;
  }
  return cur;
}

Deno.test("examples/config.example.json sets every key that has a default, to its default", async () => {
  const example = JSON.parse(await Deno.readTextFile(join(EXAMPLES, "config.example.json")));
  for (const { key, default: shown } of describeConfigKeys()) {
    let expected: unknown;
    try {
      expected = JSON.parse(shown);
    } catch {
      continue; // no default value (e.g. session.max_instances is unbounded when absent)
    }
    const actual = valueAt(example, key);
    if (key === "storage.config") {
      // The adapter's own defaults, spelled out: not the empty object the schema holds.
      assert.deepEqual(actual, { base_path: ".claude/session-state" }, key);
    } else {
      assert.deepEqual(actual, expected, key);
    }
  }
});

for (const file of await jsonFiles(EXAMPLES)) {
  const name = basename(file);
  // The network stores have their own tests below.
  if (name === "config.redis.example.json" || name === "config.postgres.example.json") continue;
  Deno.test(`examples/${name} passes --validate-config`, async () => {
    await withGitRepo(async (repo) => {
      const report = expectValid(await validateConfigCli(file, repo), name);
      assert.equal(report.source, file);
      assert.equal(report.project_root, repo);
    });
  });
}

const REDIS_EXAMPLE = join(EXAMPLES, "config.redis.example.json");
const redisRegistered = builtinRegistry().has("redis");

Deno.test({
  name: redisRegistered
    ? "examples/config.redis.example.json passes --validate-config"
    : "examples/config.redis.example.json passes --validate-config " +
      "(SKIPPED: no adapter named redis in src/storage/adapters.ts yet)",
  ignore: !redisRegistered,
  async fn() {
    const example = JSON.parse(await Deno.readTextFile(REDIS_EXAMPLE));
    await withGitRepo(async (repo) => {
      if (!redisAvailable()) {
        // --validate-config opens the storage, so without a server it can only
        // fail to connect; anything else (CONFIG_INVALID) is the example's fault.
        const result = await validateConfigCli(REDIS_EXAMPLE, repo);
        if (result.code !== 0) {
          assert.match(result.stderr, /^error: STORAGE_UNAVAILABLE: /m, result.stderr);
          return;
        }
        expectValid(result, REDIS_EXAMPLE);
        return;
      }
      // A throwaway server; the example's settings except the URL's port.
      const server = await startRedisServer();
      try {
        const copy = join(repo, "config.redis.json");
        example.storage.config.url = server.url;
        await Deno.writeTextFile(copy, JSON.stringify(example));
        const report = expectValid(await validateConfigCli(copy, repo), REDIS_EXAMPLE);
        assert.equal(report.config.storage.adapter, "redis");
        assert.equal(report.config.storage.config.prefix, "csc:");
      } finally {
        await server.stop();
      }
    });
  },
});

const POSTGRES_EXAMPLE = join(EXAMPLES, "config.postgres.example.json");
const postgresRegistered = builtinRegistry().has("postgres");
const skipPostgres = !postgresRegistered || skipPostgresTests();

Deno.test({
  name: skipPostgres
    ? "examples/config.postgres.example.json passes --validate-config (SKIPPED: no PostgreSQL)"
    : "examples/config.postgres.example.json passes --validate-config",
  ignore: skipPostgres,
  async fn() {
    const example = JSON.parse(await Deno.readTextFile(POSTGRES_EXAMPLE));
    const server = await startPostgresServer();
    try {
      await withGitRepo(async (repo) => {
        // The example's settings except the URL, which names the throwaway server.
        const copy = join(repo, "config.postgres.json");
        example.storage.config.url = server.url();
        await Deno.writeTextFile(copy, JSON.stringify(example));
        const report = expectValid(await validateConfigCli(copy, repo), POSTGRES_EXAMPLE);
        assert.equal(report.storage, "reachable");
        assert.equal(report.config.storage.adapter, "postgres");
        assert.equal(report.config.storage.config.schema, "csc");
        assert.ok(!JSON.stringify(report).includes(server.password), "the password is not shown");
      });
    } finally {
      await server.stop();
    }
  },
});

// ---------------------------------------------------------------------------
// Client configs.

interface ServerEntry {
  type?: string;
  command: string;
  args: string[];
}

/** The servers of a client config: `servers` for VS Code, `mcpServers` for the others. */
function serversOf(name: string, doc: Record<string, unknown>): Record<string, ServerEntry> {
  const vscode = name.startsWith("vscode");
  const key = vscode ? "servers" : "mcpServers";
  const servers = doc[key];
  assert.ok(
    servers !== null && typeof servers === "object" && !Array.isArray(servers),
    `${name}: needs an object "${key}"`,
  );
  assert.equal(doc[vscode ? "mcpServers" : "servers"], undefined, `${name}: uses "${key}" only`);
  const entries = servers as Record<string, ServerEntry>;
  assert.ok(Object.keys(entries).length > 0, `${name}: has at least one server`);
  for (const [server, entry] of Object.entries(entries)) {
    const where = `${name}: ${key}.${server}`;
    assert.equal(typeof entry.command, "string", `${where}.command is a string`);
    assert.ok(entry.command.length > 0, `${where}.command is not empty`);
    assert.ok(Array.isArray(entry.args), `${where}.args is an array`);
    assert.ok(entry.args.every((a) => typeof a === "string"), `${where}.args are strings`);
    if (vscode) assert.equal(entry.type, "stdio", `${where}.type is "stdio"`);
  }
  return entries;
}

const clientFiles = await jsonFiles(CLIENTS);

Deno.test("examples/clients covers Claude Code, VS Code and Cursor", () => {
  const names = clientFiles.map((f) => basename(f));
  for (const client of ["claude-code", "vscode", "cursor"]) {
    assert.ok(names.includes(`${client}.mcp.json`), `examples/clients/${client}.mcp.json exists`);
  }
});

for (const file of clientFiles) {
  const name = basename(file);
  Deno.test(`examples/clients/${name}: shape and the start task's narrow permissions`, async () => {
    const doc = JSON.parse(await Deno.readTextFile(file));
    for (const [server, entry] of Object.entries(serversOf(name, doc))) {
      const where = `${name}: ${server}`;
      const all = [entry.command, ...entry.args];
      assert.ok(!all.includes("-A"), `${where}: no -A`);
      assert.ok(!all.includes("--allow-all"), `${where}: no --allow-all`);
      const flags = entry.args.filter((a) => a.startsWith("--allow-"));
      const runIndex = entry.args.indexOf("run");
      if (runIndex < 0) {
        // A compiled binary: its permissions were fixed when it was compiled.
        assert.deepEqual(flags, [], `${where}: a binary takes no permission flags`);
        assert.match(basename(entry.command), /^claude-session-coordinator/, where);
        continue;
      }
      assert.deepEqual(flags, START_FLAGS, `${where}: the permissions of the start task`);
      for (const flag of flags) {
        // Env, run, sys and net without a list would allow everything of their kind.
        if (/^--allow-(env|run|sys|net|ffi)$/.test(flag)) {
          assert.fail(`${where}: ${flag} is not narrow`);
        }
      }
      const module = entry.args.at(-1)!;
      if (module.startsWith("jsr:")) {
        assert.equal(
          module,
          `jsr:${meta.name}@${meta.version}`,
          `${where}: the JSR package at this version`,
        );
      } else {
        assert.match(module, /main\.ts$/, `${where}: runs main.ts`);
      }
      if (entry.command === "npx") {
        assert.deepEqual(entry.args.slice(0, runIndex), ["-y", "deno@2.9.6"], where);
      } else {
        assert.equal(entry.command, "deno", where);
        assert.equal(runIndex, 0, where);
      }
    }
  });
}

// ---------------------------------------------------------------------------
// The README and the API reference name everything a user can meet.

/** The resources a client can read: the fixed ones and the templates. */
const RESOURCE_URIS = [
  "session://context",
  "session://tasks",
  "session://inbox",
  ...RESOURCE_TEMPLATES.map((t) => t.uriTemplate),
];

Deno.test("README names every tool, error code, config key and resource, and the npx commands", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  for (const tool of TOOL_NAMES) {
    assert.ok(readme.includes(`\`${tool}\``), `README mentions ${tool}`);
  }
  for (const code of ERROR_CODES) assert.ok(readme.includes(code), `README mentions ${code}`);
  for (const { key } of describeConfigKeys()) {
    assert.ok(readme.includes(`\`${key}\``), `README mentions config key ${key}`);
  }
  for (const uri of RESOURCE_URIS) assert.ok(readme.includes(uri), `README mentions ${uri}`);
  for (const command of ["npx -y deno@2.9.6 task start", "npx -y deno@2.9.6 task test"]) {
    assert.ok(readme.includes(command), `README contains ${command}`);
  }
  for (const flag of START_FLAGS) assert.ok(readme.includes(flag), `README explains ${flag}`);
  for (const adapter of builtinRegistry().names()) {
    assert.ok(readme.includes(`\`${adapter}\``), `README mentions the ${adapter} adapter`);
  }
});

Deno.test("README keeps the two start commands on its first screen", async () => {
  const firstScreen = (await Deno.readTextFile(join(ROOT, "README.md"))).split("\n").slice(0, 40)
    .join("\n");
  for (const command of ["npx -y deno@2.9.6 task start", "npx -y deno@2.9.6 task test"]) {
    assert.ok(firstScreen.includes(command), `the first 40 lines contain ${command}`);
  }
});

Deno.test("docs/API.md documents every tool, error code and resource", async () => {
  const api = await Deno.readTextFile(join(ROOT, "docs", "API.md"));
  for (const tool of TOOL_NAMES) {
    assert.ok(api.includes(`### \`${tool}\``), `API.md has a section for ${tool}`);
  }
  for (const code of ERROR_CODES) assert.ok(api.includes(`| \`${code}\``), `API.md lists ${code}`);
  for (const uri of RESOURCE_URIS) {
    assert.ok(api.includes(`### \`${uri}\``), `API.md has a section for ${uri}`);
  }
});

Deno.test("the Markdown docs link only to files that exist", async () => {
  const docs = ["README.md", "docs/API.md"];
  for await (const e of Deno.readDir(EXAMPLES)) {
    if (e.isFile && e.name.endsWith(".md")) docs.push(`examples/${e.name}`);
  }
  for (const doc of docs) {
    const text = await Deno.readTextFile(join(ROOT, doc));
    const dir = join(ROOT, doc, "..");
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // a URL
      const path = join(dir, target);
      const exists = await Deno.stat(path).then(() => true, () => false);
      assert.ok(exists, `${doc} links to ${target}, which does not exist`);
    }
  }
});
