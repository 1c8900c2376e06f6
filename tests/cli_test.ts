/**
 * The command line as a user meets it: --version, --help, unknown flags,
 * --validate-config with valid and invalid files, and where the config comes
 * from (--config, the environment variable, the project file, the home file).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CONFIG_ENV,
  DENO_JSON,
  MAIN_TS,
  type Project,
  PROJECT_CONFIG,
  PROJECT_ID,
  runCli,
  withProject,
} from "./_stdio_harness.ts";

interface Validated {
  valid: boolean;
  source: string;
  project: string;
  project_source: string;
  project_root: string;
  config: {
    storage: { adapter: string; config: Record<string, unknown> };
    session: { machine_id: string; project_detection: string; lease_ttl_seconds: number };
    limits: { max_value_bytes: number };
  };
}

/** Runs `--validate-config` with extra args/env and parses a successful result. */
async function validate(project: Project, args: string[] = [], env: Record<string, string> = {}) {
  const res = await runCli(project, { args: ["--validate-config", ...args], env });
  assert.equal(res.code, 0, `exit ${res.code}\nstderr: ${res.stderr}`);
  return JSON.parse(res.stdout) as Validated;
}

/** Runs `--validate-config` expecting failure; returns stderr. */
async function validateFails(
  project: Project,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<string> {
  const res = await runCli(project, { args: ["--validate-config", ...args], env });
  assert.notEqual(res.code, 0, `expected failure, got exit 0 with stdout: ${res.stdout}`);
  assert.equal(res.code, 1, `exit ${res.code}\nstderr: ${res.stderr}`);
  assert.doesNotMatch(res.stdout, /"valid"/);
  return res.stderr;
}

/** The long flags main.ts's parseArgs accepts, read from its source. */
async function parsedFlags(): Promise<string[]> {
  const source = await Deno.readTextFile(MAIN_TS);
  const block = /parseArgs\(\{[\s\S]*?options:\s*\{([\s\S]*?)\n\s*\},\n/.exec(source);
  assert.ok(block, "could not find parseArgs({ options: { … } }) in main.ts");
  const names = [...block[1].matchAll(/^\s*"?([a-z][a-z-]*)"?:\s*\{\s*type:/gm)].map((m) => m[1]);
  return names;
}

Deno.test("--version prints the name and the version from deno.json", async () => {
  const { version } = JSON.parse(await Deno.readTextFile(DENO_JSON)) as { version: string };
  await withProject(async (project) => {
    const res = await runCli(project, { args: ["--version"] });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, `claude-session-coordinator ${version}\n`);
    assert.equal(res.stderr, "");
  }, { config: null });
});

Deno.test("--help and -h list every flag main.ts accepts", async () => {
  const flags = await parsedFlags();
  for (const known of ["config", "validate-config", "verbose", "version", "help"]) {
    assert.ok(flags.includes(known), `main.ts parser lost --${known}? parsed: ${flags}`);
  }
  await withProject(async (project) => {
    const [long, short] = await Promise.all([
      runCli(project, { args: ["--help"] }),
      runCli(project, { args: ["-h"] }),
    ]);
    assert.equal(long.code, 0, long.stderr);
    assert.equal(long.stderr, "");
    assert.equal(short.stdout, long.stdout);
    for (const flag of flags) {
      assert.match(
        long.stdout,
        new RegExp(`(^|[\\s\\[])--${flag}\\b`, "m"),
        `--help lacks --${flag}`,
      );
    }
    assert.match(long.stdout, /stdout carries JSON-RPC only; logs go to stderr/);
    assert.match(long.stdout, /session\.lease_ttl_seconds/);
    assert.match(long.stdout, new RegExp(CONFIG_ENV));
  }, { config: null });
});

Deno.test("an unknown flag exits 2 with a message naming it", async () => {
  await withProject(async (project) => {
    const res = await runCli(project, { args: ["--no-such-flag"] });
    assert.equal(res.code, 2, res.stderr);
    assert.equal(res.stdout, "");
    assert.match(res.stderr, /--no-such-flag/);
    assert.match(res.stderr, /--help/);
    const missing = await runCli(project, { args: ["--config"] });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /--config/);
  }, { config: null });
});

Deno.test("--validate-config with a valid file prints valid, the source and the merged config", async () => {
  await withProject(async (project) => {
    const file = join(project.base, "valid.json");
    await Deno.writeTextFile(file, JSON.stringify({ session: { lease_ttl_seconds: 7 } }));
    const out = await validate(project, ["--config", file]);
    assert.equal(out.valid, true);
    assert.equal(out.source, file);
    assert.equal(out.project, PROJECT_ID);
    assert.equal(out.project_source, "git-remote");
    assert.equal(out.project_root, project.root);
    // The file's key, merged over every default.
    assert.equal(out.config.session.lease_ttl_seconds, 7);
    assert.equal(out.config.session.machine_id, "auto");
    assert.equal(out.config.session.project_detection, "git");
    assert.equal(out.config.storage.adapter, "local");
    assert.ok(out.config.limits.max_value_bytes > 0);

    // A relative --config resolves against the working directory.
    const relative = await validate(project, ["--config", "../valid.json"]);
    assert.equal(relative.source, file);

    // No file anywhere: the built-in defaults.
    const defaults = await validate(project);
    assert.equal(defaults.source, "built-in defaults");
    assert.equal(defaults.config.session.lease_ttl_seconds, 60);
  }, { config: null });
});

Deno.test("--validate-config with an invalid file exits non-zero naming the file and field", async () => {
  await withProject(async (project) => {
    const cases: Array<{ name: string; text: string; expect: RegExp[] }> = [
      {
        name: "adapter.json",
        text: JSON.stringify({ storage: { adapter: "nosuch" } }),
        expect: [/storage\.adapter/, /nosuch/, /CONFIG_INVALID/],
      },
      {
        name: "ttl.json",
        text: JSON.stringify({ session: { lease_ttl_seconds: "x" } }),
        expect: [/session\.lease_ttl_seconds/, /integer/],
      },
      {
        name: "short-ttl.json",
        text: JSON.stringify({ session: { lease_ttl_seconds: 1 } }),
        expect: [/session\.lease_ttl_seconds/, />= 5/],
      },
      {
        name: "unknown-key.json",
        text: JSON.stringify({ session: { lease_ttl: 30 } }),
        expect: [/session\.lease_ttl\b/, /unknown key/],
      },
      {
        name: "malformed.json",
        text: '{"session": {\n  "lease_ttl_seconds": 5,\n}}',
        expect: [/invalid JSON/, /line 3/],
      },
    ];
    await Promise.all(cases.map(async ({ name, text, expect }) => {
      const file = join(project.base, name);
      await Deno.writeTextFile(file, text);
      const stderr = await validateFails(project, ["--config", file]);
      assert.ok(stderr.includes(file), `${name}: stderr does not name ${file}:\n${stderr}`);
      for (const re of expect) assert.match(stderr, re, `${name}: ${stderr}`);
    }));

    // A missing --config file is an error too, not a silent fallback.
    const missing = join(project.base, "missing.json");
    const stderr = await validateFails(project, ["--config", missing]);
    assert.ok(stderr.includes(missing), stderr);
    assert.match(stderr, /not found/);
  }, { config: null });
});

Deno.test("an invalid project config stops the server before it serves", async () => {
  await withProject(async (project) => {
    // Stdin is closed, so a server that started anyway would exit 0.
    const res = await runCli(project);
    assert.equal(res.code, 1, res.stderr);
    assert.equal(res.stdout, "");
    assert.ok(res.stderr.includes(join(project.root, PROJECT_CONFIG)), res.stderr);
    assert.match(res.stderr, /storage\.adapter/);
    const verbose = await runCli(project, { args: ["--verbose"] });
    assert.equal(verbose.code, 1);
    assert.match(verbose.stderr, /CoordinatorError/);
  }, { config: { storage: { adapter: "nosuch" } } });
});

Deno.test(`${CONFIG_ENV} is honoured, and --config beats it`, async () => {
  await withProject(async (project) => {
    const fromEnv = join(project.base, "env.json");
    const fromFlag = join(project.base, "flag.json");
    const bad = join(project.base, "bad.json");
    await Deno.writeTextFile(fromEnv, JSON.stringify({ session: { lease_ttl_seconds: 11 } }));
    await Deno.writeTextFile(fromFlag, JSON.stringify({ session: { lease_ttl_seconds: 12 } }));
    await Deno.writeTextFile(bad, JSON.stringify({ session: { lease_ttl_seconds: "x" } }));
    const [viaEnv, viaFlag, badEnv, missingEnv] = await Promise.all([
      validate(project, [], { [CONFIG_ENV]: fromEnv }),
      validate(project, ["--config", fromFlag], { [CONFIG_ENV]: fromEnv }),
      validateFails(project, [], { [CONFIG_ENV]: bad }),
      validateFails(project, [], { [CONFIG_ENV]: join(project.base, "nope.json") }),
    ]);
    // The env file wins over the project file that withProject wrote.
    assert.equal(viaEnv.source, fromEnv);
    assert.equal(viaEnv.config.session.lease_ttl_seconds, 11);
    assert.equal(viaFlag.source, fromFlag);
    assert.equal(viaFlag.config.session.lease_ttl_seconds, 12);
    assert.ok(badEnv.includes(bad), badEnv);
    assert.match(badEnv, /session\.lease_ttl_seconds/);
    assert.match(missingEnv, new RegExp(CONFIG_ENV));
    assert.match(missingEnv, /nope\.json/);
  });
});

Deno.test("without flag or variable: the project file, then the home file", async () => {
  await withProject(async (project) => {
    const homeConfig = join(project.home, ".config", "claude-session-coordinator", "config.json");
    await Deno.mkdir(join(homeConfig, ".."), { recursive: true });
    await Deno.writeTextFile(homeConfig, JSON.stringify({ session: { lease_ttl_seconds: 9 } }));
    const withProjectFile = await validate(project);
    assert.equal(withProjectFile.source, project.configFile);
    assert.equal(withProjectFile.config.session.lease_ttl_seconds, 5);

    await Deno.remove(project.configFile!);
    const withHomeFile = await validate(project);
    assert.equal(withHomeFile.source, homeConfig);
    assert.equal(withHomeFile.config.session.lease_ttl_seconds, 9);
  });
});

Deno.test("cli: --project serves another directory's project; a missing one is a clear error", async () => {
  await withProject(async (project) => {
    const elsewhere = await Deno.makeTempDir();
    try {
      const ok = await runCli(project, {
        cwd: elsewhere,
        args: ["--validate-config", "--project", project.root],
      });
      assert.equal(ok.code, 0, ok.stderr);
      const out = JSON.parse(ok.stdout);
      assert.equal(out.project, PROJECT_ID);
      assert.equal(out.project_root, project.root);
      const bad = await runCli(project, {
        cwd: elsewhere,
        args: ["--validate-config", "--project", join(elsewhere, "nope")],
      });
      assert.equal(bad.code, 2, "a wrong command line exits 2");
      assert.match(bad.stderr, /INVALID_ARGUMENT: --project .*nope is not a directory/);
    } finally {
      await Deno.remove(elsewhere, { recursive: true });
    }
  });
});

Deno.test("--validate-config writes nothing: no state directory appears", async () => {
  await withProject(async (project) => {
    const res = await runCli(project, { args: ["--validate-config"] });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(JSON.parse(res.stdout).storage, "reachable");
    await assert.rejects(() => Deno.stat(join(project.root, ".claude", "session-state")));
  }, { config: null });
});
