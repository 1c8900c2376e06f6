import assert from "node:assert/strict";
import { join } from "node:path";
import {
  detectMachineId,
  detectProject,
  findProjectRoot,
  normalizeMachineId,
  parseRemoteUrl,
} from "../src/setup/detect.ts";
import { git, readWorkTree } from "../src/setup/git.ts";
import { gitOk, makeRepo, runProbe, withTempDir } from "./_git_fixture.ts";

Deno.test("parseRemoteUrl: every remote form gives the path as a lower-case project id", () => {
  const cases: Array<[string, string | null]> = [
    // scp-style
    ["git@github.com:owner/repo.git", "owner/repo"],
    ["git@github.com:Owner/Repo.git", "owner/repo"],
    ["github.com:owner/repo", "owner/repo"],
    ["git@[::1]:owner/repo.git", "owner/repo"],
    ["[git.example.com:2222]:owner/repo.git", "owner/repo"],
    // ssh://, with and without port
    ["ssh://git@host:2222/owner/repo.git", "owner/repo"],
    ["ssh://host/owner/repo", "owner/repo"],
    ["ssh://git@[::1]:2222/owner/repo.git", "owner/repo"],
    ["git+ssh://git@host/owner/repo.git", "owner/repo"],
    ["ssh://git@host/~user/repo.git", "user/repo"],
    // https / http / git with credentials, ports, trailing slash and .git
    ["https://user:token@host:8443/owner/repo.git", "owner/repo"],
    ["https://github.com/owner/repo", "owner/repo"],
    ["https://github.com/owner/repo/", "owner/repo"],
    ["https://github.com/owner/repo.git/", "owner/repo"],
    ["https://github.com/owner/repo.GIT", "owner/repo"],
    ["http://host/owner/repo.git", "owner/repo"],
    ["git://host/owner/repo.git", "owner/repo"],
    ["HTTPS://HOST/Owner/Repo.git", "owner/repo"],
    ["https://host/owner/repo.git?private_token=abc#frag", "owner/repo"],
    ["persistent-https::https://host/owner/repo", "owner/repo"],
    ["  https://host/owner/repo.git \n", "owner/repo"],
    // GitLab subgroups keep the full path
    ["https://gitlab.com/group/sub/sub2/repo.git", "group/sub/sub2/repo"],
    ["git@gitlab.com:group/sub/sub2/repo.git", "group/sub/sub2/repo"],
    // Azure DevOps
    ["https://dev.azure.com/org/project/_git/repo", "org/project/repo"],
    ["https://org@dev.azure.com/org/project/_git/repo", "org/project/repo"],
    ["git@ssh.dev.azure.com:v3/org/project/repo", "org/project/repo"],
    ["https://org.visualstudio.com/project/_git/repo", "org/project/repo"],
    ["https://org.visualstudio.com/DefaultCollection/project/_git/repo", "org/project/repo"],
    ["org@vs-ssh.visualstudio.com:v3/org/project/repo", "org/project/repo"],
    ["https://dev.azure.com/org/My%20Project/_git/My%20Repo", "org/my-project/my-repo"],
    [
      "https://tfs.example.com/tfs/DefaultCollection/project/_git/repo",
      "tfs/defaultcollection/project/repo",
    ],
    // Segment normalization; ".", ".." and empty segments are dropped
    ["https://host/./owner//../repo.git", "owner/repo"],
    ["https://host/Owner Name/Ré+po.git", "owner-name/re-po"],
    ["https://host/bad%zzescape/repo", "bad-zzescape/repo"],
    ["https://host/-owner-/.repo.", "owner/repo"],
    // Local paths and file URLs: the final directory name only
    ["file:///srv/git/Project.git", "project"],
    ["file:///srv/git/my%20project/", "my-project"],
    ["file://C:/src/repo.git", "repo"],
    ["/srv/git/proj.git", "proj"],
    ["/srv/git/proj.git/", "proj"],
    ["../sibling", "sibling"],
    ["./relative/repo", "repo"],
    ["C:\\Users\\me\\My Repo", "my-repo"],
    ["\\\\server\\share\\repo.git", "repo"],
    ["repo", "repo"],
    // Nothing usable
    ["", null],
    ["   ", null],
    [".", null],
    ["..", null],
    ["/", null],
    ["https://host/", null],
    ["https://host", null],
    ["host:", null],
    ["file:///", null],
    ["https://host/_git/.git", null],
    ["https://host/!!!/???", null],
  ];
  for (const [url, expected] of cases) {
    assert.equal(parseRemoteUrl(url), expected, `parseRemoteUrl(${JSON.stringify(url)})`);
  }
});

Deno.test("parseRemoteUrl: credentials, ports and query tokens never reach the id", () => {
  const urls = [
    "https://alice:s3cr3t@github.com/owner/repo.git",
    "https://ghp_s3cr3t@github.com/owner/repo.git",
    "https://oauth2:s3cr3t@gitlab.com:8443/group/sub/repo.git",
    "https://alice:s3cr3t@dev.azure.com/org/project/_git/repo",
    "ssh://alice:s3cr3t@host:2222/owner/repo.git",
    "alice:s3cr3t@host:owner/repo.git",
    "https://host/owner/repo.git?access_token=s3cr3t",
    "https://host/owner/repo.git#s3cr3t",
  ];
  for (const url of urls) {
    const id = parseRemoteUrl(url);
    assert.ok(id !== null, url);
    for (const secret of ["s3cr3t", "alice", "oauth2", "ghp", "8443", "2222", "token"]) {
      assert.ok(!id.includes(secret), `${url} gave ${id}`);
    }
  }
});

Deno.test("parseRemoteUrl: very long paths keep the trailing segments within 128 chars", () => {
  const segment = "s".repeat(60);
  const url = `https://host/${[1, 2, 3, 4].map((n) => `${n}${segment}`).join("/")}/repo.git`;
  const id = parseRemoteUrl(url);
  assert.ok(id !== null && id.length <= 128, String(id));
  assert.ok(id.endsWith("/repo"));
  assert.equal(parseRemoteUrl(`https://host/owner/${"r".repeat(200)}`), "owner/" + "r".repeat(64));
});

Deno.test("normalizeMachineId: small alphabet, trimmed ends, 64 chars, never empty", () => {
  const cases: Array<[string, string]> = [
    ["MacBook-Pro.local", "macbook-pro.local"],
    ["José's MacBook", "jose-s-macbook"],
    ["build box #7", "build-box-7"],
    ["host:with/colon@at", "host-with-colon-at"],
    ["..--leading and trailing--..", "leading-and-trailing"],
    ["under_score", "under_score"],
    ["a".repeat(80), "a".repeat(64)],
    [`${"a".repeat(63)}.b`, "a".repeat(63)],
    ["", "unknown-machine"],
    ["---", "unknown-machine"],
    ["日本", "unknown-machine"],
  ];
  for (const [raw, expected] of cases) {
    const id = normalizeMachineId(raw);
    assert.equal(id, expected, `normalizeMachineId(${JSON.stringify(raw)})`);
    assert.match(id, /^[a-z0-9._-]{1,64}$/);
  }
});

Deno.test("detectMachineId: auto is the normalized host name; other values are normalized", async () => {
  assert.equal(await detectMachineId("auto"), normalizeMachineId(Deno.hostname()));
  assert.equal(await detectMachineId(" AUTO "), normalizeMachineId(Deno.hostname()));
  assert.equal(await detectMachineId("Laptop of Ann"), "laptop-of-ann");
  assert.equal(await detectMachineId("a:b"), "a-b");
});

Deno.test("git: null for a failing command, a missing cwd or a file as cwd", async () => {
  await withTempDir(async (dir) => {
    assert.match((await git(["--version"], dir)) ?? "", /^git version /);
    assert.equal(await git(["rev-parse", "--show-toplevel"], dir), null);
    assert.equal(await git(["--version"], join(dir, "missing")), null);
    await Deno.writeTextFile(join(dir, "file"), "x");
    assert.equal(await git(["--version"], join(dir, "file")), null);
    // A bad argument is a bug in the caller, not "git unusable": it still throws.
    await assert.rejects(git(["a\0b"], dir), TypeError);
  });
});

Deno.test("readWorkTree: path, branch and head; null branch when detached or before a commit", async () => {
  await withTempDir(async (dir) => {
    const repo = await makeRepo(join(dir, "repo"));
    const head = await gitOk(["rev-parse", "HEAD"], repo);
    await Deno.mkdir(join(repo, "sub"));
    assert.deepEqual(await readWorkTree(join(repo, "sub")), { path: repo, branch: "main", head });

    await gitOk(["worktree", "add", "-q", "../wt", "-b", "feature"], repo);
    assert.deepEqual(await readWorkTree(join(dir, "wt")), {
      path: join(dir, "wt"),
      branch: "feature",
      head,
    });

    await gitOk(["checkout", "-q", "--detach"], repo);
    assert.deepEqual(await readWorkTree(repo), { path: repo, branch: null, head });

    const empty = await makeRepo(join(dir, "empty"), { commit: false });
    assert.deepEqual(await readWorkTree(empty), { path: empty, branch: null, head: null });

    const plain = join(dir, "plain");
    await Deno.mkdir(plain);
    assert.deepEqual(await readWorkTree(plain), { path: plain, branch: null, head: null });
  });
});

Deno.test("detectProject: origin remote gives the id, from the root and from a subdirectory", async () => {
  await withTempDir(async (dir) => {
    const repo = await makeRepo(join(dir, "checkout"), {
      origin: "https://user:token@github.com/Acme/Widgets.git",
    });
    const expected = { projectId: "acme/widgets", projectRoot: repo, source: "git-remote" };
    assert.deepEqual(await detectProject({ cwd: repo, mode: "git" }), expected);

    const deep = join(repo, "src", "lib");
    await Deno.mkdir(deep, { recursive: true });
    assert.deepEqual(await detectProject({ cwd: deep, mode: "git" }), expected);
    assert.deepEqual(await findProjectRoot(deep), { root: repo, viaGit: true });
  });
});

Deno.test("detectProject: no origin gives the root directory name; unparsable origin too", async () => {
  await withTempDir(async (dir) => {
    const repo = await makeRepo(join(dir, "My Project"));
    const sub = join(repo, "docs");
    await Deno.mkdir(sub);
    const expected = { projectId: "my-project", projectRoot: repo, source: "git-root" };
    assert.deepEqual(await detectProject({ cwd: sub, mode: "git" }), expected);

    await gitOk(["remote", "add", "origin", "https://host/"], repo);
    assert.deepEqual(await detectProject({ cwd: repo, mode: "git" }), expected);

    // A repo without any commit still has a root.
    const fresh = await makeRepo(join(dir, "Fresh"), { commit: false });
    assert.deepEqual(await detectProject({ cwd: fresh, mode: "git" }), {
      projectId: "fresh",
      projectRoot: fresh,
      source: "git-root",
    });
  });
});

Deno.test("detectProject: outside git the cwd's directory name is the id", async () => {
  await withTempDir(async (dir) => {
    const plain = join(dir, "Plain Dir.");
    await Deno.mkdir(plain);
    const expected = { projectId: "plain-dir", projectRoot: plain, source: "directory" };
    assert.deepEqual(await detectProject({ cwd: plain, mode: "git" }), expected);
    assert.deepEqual(await detectProject({ cwd: plain, mode: "directory" }), expected);
    assert.deepEqual(await findProjectRoot(plain), { root: plain, viaGit: false });
  });
  // The file system root has no name to use.
  const atRoot = await detectProject({ cwd: "/", mode: "directory" });
  assert.equal(atRoot.projectId, "unknown-project");
});

Deno.test("detectProject: a linked worktree resolves to the main tree's root and id", async () => {
  await withTempDir(async (dir) => {
    const repo = await makeRepo(join(dir, "main-tree"), { origin: "git@github.com:acme/app.git" });
    await gitOk(["worktree", "add", "-q", "../wt", "-b", "feature"], repo);
    const wt = join(dir, "wt");
    const wtSub = join(wt, "nested");
    await Deno.mkdir(wtSub);

    const fromMain = await detectProject({ cwd: repo, mode: "git" });
    assert.deepEqual(fromMain, { projectId: "acme/app", projectRoot: repo, source: "git-remote" });
    assert.deepEqual(await detectProject({ cwd: wt, mode: "git" }), fromMain);
    assert.deepEqual(await detectProject({ cwd: wtSub, mode: "git" }), fromMain);

    // Without a remote the worktree still takes the MAIN tree's directory name.
    await gitOk(["remote", "remove", "origin"], repo);
    const named = { projectId: "main-tree", projectRoot: repo, source: "git-root" };
    assert.deepEqual(await detectProject({ cwd: wt, mode: "git" }), named);
    assert.deepEqual(await detectProject({ cwd: wt, mode: "directory" }), {
      ...named,
      source: "directory",
    });
  });
});

Deno.test("detectProject: mode directory ignores the remote but keeps the git root", async () => {
  await withTempDir(async (dir) => {
    const repo = await makeRepo(join(dir, "Local-Name"), { origin: "git@github.com:acme/app.git" });
    const sub = join(repo, "a");
    await Deno.mkdir(sub);
    assert.deepEqual(await detectProject({ cwd: sub, mode: "directory" }), {
      projectId: "local-name",
      projectRoot: repo,
      source: "directory",
    });
  });
});

Deno.test("findProjectRoot: symlinked paths resolve to the real root", async () => {
  await withTempDir(async (dir) => {
    const repo = await makeRepo(join(dir, "real"));
    await Deno.symlink(repo, join(dir, "link"));
    assert.deepEqual(await findProjectRoot(join(dir, "link")), { root: repo, viaGit: true });

    const plain = join(dir, "plain");
    await Deno.mkdir(plain);
    await Deno.symlink(plain, join(dir, "plain-link"));
    assert.deepEqual(await findProjectRoot(join(dir, "plain-link")), {
      root: plain,
      viaGit: false,
    });
    // A missing directory cannot be resolved; it is still returned, absolute.
    assert.deepEqual(await findProjectRoot(join(dir, "missing")), {
      root: join(dir, "missing"),
      viaGit: false,
    });
  });
});

Deno.test("findProjectRoot: a bare repo is the root of all its worktrees", async () => {
  await withTempDir(async (dir) => {
    const source = await makeRepo(join(dir, "source"));
    await gitOk(["clone", "-q", "--bare", source, join(dir, "Proj.git")], dir);
    const bare = join(dir, "Proj.git");
    await gitOk(["worktree", "add", "-q", join(dir, "wt-a"), "-b", "a"], bare);
    await gitOk(["worktree", "add", "-q", join(dir, "wt-b"), "-b", "b"], bare);

    for (const cwd of [bare, join(dir, "wt-a"), join(dir, "wt-b")]) {
      assert.deepEqual(await findProjectRoot(cwd), { root: bare, viaGit: true }, cwd);
      assert.deepEqual(await detectProject({ cwd, mode: "directory" }), {
        projectId: "proj",
        projectRoot: bare,
        source: "directory",
      });
      // The bare clone's origin is a local path: its final directory name.
      assert.equal((await detectProject({ cwd, mode: "git" })).projectId, "source");
    }
  });
});

Deno.test("findProjectRoot: a submodule and a separate git dir resolve to their own tree", async () => {
  await withTempDir(async (dir) => {
    const lib = await makeRepo(join(dir, "lib"));
    const outer = await makeRepo(join(dir, "outer"));
    await gitOk(["submodule", "add", "-q", lib, "vendor/lib"], outer);
    const sub = join(outer, "vendor", "lib");
    assert.deepEqual(await findProjectRoot(sub), { root: sub, viaGit: true });
    assert.equal((await detectProject({ cwd: sub, mode: "git" })).projectId, "lib");

    const tree = join(dir, "tree");
    await Deno.mkdir(join(tree, "deeper"), { recursive: true });
    await gitOk(["init", "-q", `--separate-git-dir=${join(dir, "meta")}`], tree);
    assert.deepEqual(await findProjectRoot(join(tree, "deeper")), { root: tree, viaGit: true });
  });
});

/** Runs detection in a child Deno with the given flags and environment. */
function detectInChild(cwd: string, flags: string[], env: Record<string, string>) {
  return runProbe(flags, ["detect", cwd], env);
}

Deno.test("detection without git on PATH falls back to the directory", async () => {
  await withTempDir(async (dir) => {
    const repo = await makeRepo(join(dir, "Repo Dir"), { origin: "git@github.com:acme/app.git" });
    const emptyBin = join(dir, "empty-bin");
    await Deno.mkdir(emptyBin);
    const out = await detectInChild(repo, ["-A"], { PATH: emptyBin });
    assert.deepEqual(out.project, {
      projectId: "repo-dir",
      projectRoot: repo,
      source: "directory",
    });
    assert.equal(out.version, null);
    assert.deepEqual(out.tree, { path: repo, branch: null, head: null });
  });
});

Deno.test("detection without run, sys or env permission falls back without throwing", async () => {
  await withTempDir(async (dir) => {
    const repo = await makeRepo(join(dir, "repo"), { origin: "git@github.com:acme/app.git" });
    // No --allow-run: git is never started. No --allow-sys: the host name comes from $HOSTNAME.
    const out = await detectInChild(repo, ["--allow-read", "--allow-env"], {
      HOSTNAME: "Build Box 7",
    });
    assert.deepEqual(out.project, { projectId: "repo", projectRoot: repo, source: "directory" });
    assert.equal(out.version, null);
    assert.equal(out.machine, "build-box-7");

    // $COMPUTERNAME is the Windows spelling.
    const win = await detectInChild(repo, ["--allow-read", "--allow-env"], {
      HOSTNAME: "",
      COMPUTERNAME: "WIN-PC",
    });
    assert.equal(win.machine, "win-pc");

    // Nothing readable at all: a fixed placeholder rather than a crash.
    const none = await detectInChild(repo, ["--allow-read"], {});
    assert.equal(none.machine, "unknown-machine");
  });
});
