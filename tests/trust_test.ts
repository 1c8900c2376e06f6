/**
 * What a cloned repository's files may make the server do, through the real
 * CLI: a project's own config may not move storage out of the project,
 * select a network store or name the machine unless the user trusts the
 * project; a state directory that is a symlink out of the project is
 * refused; config files that never end are refused at once; credentials put
 * in the wrong field are never echoed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createProject, PROJECT_CONFIG, removeProject, runCli } from "./_stdio_harness.ts";

async function withRepo(
  config: unknown,
  fn: (p: Awaited<ReturnType<typeof createProject>>) => Promise<void>,
): Promise<void> {
  const project = await createProject({ config });
  try {
    await fn(project);
  } finally {
    await removeProject(project);
  }
}

async function validate(project: Awaited<ReturnType<typeof createProject>>, args: string[] = []) {
  return await runCli(project, { args: ["--validate-config", ...args] });
}

async function trustInUserConfig(home: string, roots: string[]): Promise<void> {
  const dir = join(home, ".config", "claude-session-coordinator");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify({ trusted_projects: roots }));
}

Deno.test("defect: a project's own config may not put the state directory outside the project", async () => {
  const outside = await Deno.makeTempDir({ prefix: "csc-outside-" });
  try {
    await withRepo({ storage: { adapter: "local", config: { base_path: outside } } }, async (p) => {
      const res = await validate(p);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /CONFIG_INVALID/);
      assert.match(res.stderr, /storage\.config\.base_path/);
      assert.match(res.stderr, /trusted_projects/);
      // Serving is refused the same way, and nothing was written outside.
      const serve = await runCli(p, { args: [] });
      assert.equal(serve.code, 1);
      assert.deepEqual([...Deno.readDirSync(outside)], []);
      // Once the user trusts the project, it is allowed.
      await trustInUserConfig(p.home, [p.root]);
      const trusted = await validate(p);
      assert.equal(trusted.code, 0, trusted.stderr);
      assert.equal(JSON.parse(trusted.stdout).trust, "trusted project");
    });
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("defect: a project's own config may not select a network store or name the machine", async () => {
  await withRepo(
    { storage: { adapter: "redis", config: { url: "redis://someone-else.example:6379" } } },
    async (p) => {
      const res = await validate(p);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /storage\.adapter: selects the "redis" adapter/);
    },
  );
  await withRepo({ session: { machine_id: "build-server-01" } }, async (p) => {
    const res = await validate(p);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /session\.machine_id/);
    // The same settings given explicitly (--config) are the user's own word.
    const explicit = await validate(p, ["--config", p.configFile!]);
    assert.equal(explicit.code, 0, explicit.stderr);
    const out = JSON.parse(explicit.stdout);
    assert.equal(out.machine, "build-server-01");
    assert.equal(out.trust, "explicit");
  });
  // A project cannot vouch for itself.
  await withRepo({ trusted_projects: ["/"] }, async (p) => {
    const res = await validate(p);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /trusted_projects: is read only from the per-user config/);
  });
  // A dashboard token the repository chose is known to its author: accepted, not used, said so.
  await withRepo({ dashboard: { token: "chosen-by-the-repo-author" } }, async (p) => {
    const res = await validate(p);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /dashboard\.token is not used: it came with the repository/);
    assert.ok(!res.stdout.includes("chosen-by-the-repo-author"), res.stdout);
    const explicit = await validate(p, ["--config", p.configFile!]);
    assert.ok(!explicit.stderr.includes("dashboard.token is not used"), explicit.stderr);
    // The user's own token is a secret all the same: only its presence is printed.
    assert.equal(JSON.parse(explicit.stdout).config.dashboard.token, "***");
  });
  // Tuning sessions from the project file stays allowed.
  await withRepo({ session: { lease_ttl_seconds: 30, max_instances: 4 } }, async (p) => {
    const res = await validate(p);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(JSON.parse(res.stdout).trust, "project");
  });
});

Deno.test("a state directory that is a symlink out of the project is refused", async () => {
  const outside = await Deno.makeTempDir({ prefix: "csc-outside-" });
  try {
    await withRepo(null, async (p) => {
      await Deno.mkdir(join(p.root, ".claude"), { recursive: true });
      await Deno.symlink(outside, join(p.root, ".claude", "session-state"));
      const res = await validate(p);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /is a symbolic link that leads to .*, outside the project/);
      assert.deepEqual([...Deno.readDirSync(outside)], []);
    });
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("defect: a config file that never ends (a link to /dev/zero, a FIFO, a huge file) is refused at once", async () => {
  for (const kind of ["zero", "fifo", "huge"] as const) {
    await withRepo(null, async (p) => {
      const file = join(p.root, PROJECT_CONFIG);
      await Deno.mkdir(join(p.root, ".claude"), { recursive: true });
      if (kind === "zero") await Deno.symlink("/dev/zero", file);
      if (kind === "fifo") {
        const mk = await new Deno.Command("mkfifo", { args: [file] }).output();
        assert.ok(mk.success);
      }
      if (kind === "huge") {
        const f = await Deno.open(file, { write: true, create: true });
        await f.truncate(2 * 1024 * 1024); // sparse: 2 MiB of zero bytes
        f.close();
      }
      const started = performance.now();
      const res = await validate(p);
      assert.equal(res.code, 1, `${kind}: ${res.stderr}`);
      assert.match(res.stderr, kind === "huge" ? /larger than/ : /not a regular file/, kind);
      assert.ok(performance.now() - started < 30_000, `${kind}: answered, did not hang`);
    });
  }
});

Deno.test("defect: a Redis URL with a password in the wrong field is never echoed", async () => {
  const secret = "s3cr3t-passw0rd";
  for (
    const config of [
      { storage: { adapter: `redis://user:${secret}@db.example:6379` } },
      { storage: { adapter: "redis", config: `redis://user:${secret}@db.example:6379` } },
      {
        storage: {
          adapter: "redis",
          config: { url: `redis://user:${secret}@db.example:6379`, nope: 1 },
        },
      },
    ]
  ) {
    await withRepo(null, async (p) => {
      const file = join(p.base, "explicit.json");
      await Deno.writeTextFile(file, JSON.stringify(config));
      const res = await validate(p, ["--config", file, "--verbose"]);
      assert.ok(!res.stderr.includes(secret), `stderr leaks the password: ${res.stderr}`);
      assert.ok(!res.stdout.includes(secret), `stdout leaks the password: ${res.stdout}`);
    });
  }
});
