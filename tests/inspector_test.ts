/**
 * The official MCP Inspector CLI (pinned version) against the real server:
 * it lists the seventeen tools, its --strict schema portability check finds
 * nothing, and tool calls come back as the Inspector reports them. Every
 * Inspector CLI run spawns a fresh server, so one run holds one method.
 *
 * The Inspector comes from npm through `npx -y` (installed into npm's npx
 * cache on the first run; later runs call its launcher with node directly),
 * else through Deno's own npm support. When nothing works the tests are
 * skipped and the reasons are printed.
 */
import assert from "node:assert/strict";
import { delimiter, join } from "node:path";
import {
  childEnv,
  createProject,
  type Project,
  PROJECT_ID,
  removeProject,
  serverArgs,
  withProject,
} from "./_stdio_harness.ts";

/** The Inspector version these tests pin (`npm view @modelcontextprotocol/inspector version`). */
const INSPECTOR_VERSION = "2.12.0";
const INSPECTOR_SPEC = `@modelcontextprotocol/inspector@${INSPECTOR_VERSION}`;
const TOOL_NAMES = [
  "sign_on",
  "sign_off",
  "store_data",
  "retrieve_data",
  "delete_data",
  "delete_scope",
  "list_keys",
  "list_scopes",
  "post_task",
  "claim_task",
  "update_task",
  "list_tasks",
  "send_message",
  "read_messages",
  "reserve_paths",
  "release_paths",
  "wait",
];
/** The Inspector CLI's exit code for a tool result with isError: true. */
const EXIT_TOOL_ERROR = 5;

/** How to start the Inspector: a command and the arguments before its own. */
interface Runner {
  label: string;
  cmd: string;
  args: string[];
}

/** The Inspector process's environment: ours (npm needs the real HOME for its cache). */
function inspectorEnv(): Record<string, string> {
  return {
    ...Deno.env.toObject(),
    NO_COLOR: "1",
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
  };
}

/** Runs a command with a deadline; the child is killed when it passes. */
async function runWithDeadline(
  cmd: string,
  args: string[],
  options: { cwd: string; timeoutMs: number },
) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  try {
    const out = await new Deno.Command(cmd, {
      args,
      cwd: options.cwd,
      env: inspectorEnv(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      timedOut: controller.signal.aborted,
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The Inspector's launcher script as installed by npx, so later runs skip
 * npx's own start-up: npm exec puts the package's bin folder on PATH.
 */
async function installedByNpx(dir: string): Promise<Runner> {
  const res = await runWithDeadline("npx", [
    "-y",
    `--package=${INSPECTOR_SPEC}`,
    "--",
    "node",
    "-e",
    "process.stdout.write(process.env.PATH)",
  ], { cwd: dir, timeoutMs: 240_000 });
  if (res.code !== 0) throw new Error(`npx exit ${res.code}: ${res.stderr.trim().slice(-400)}`);
  for (const bin of res.stdout.split(delimiter)) {
    try {
      const script = await Deno.realPath(join(bin, "mcp-inspector"));
      return { label: `node ${script} (installed by npx)`, cmd: "node", args: [script] };
    } catch {
      // not in this folder
    }
  }
  throw new Error("npx put no mcp-inspector on PATH");
}

/** Finds a working way to run the pinned Inspector, or says why there is none. */
async function locateInspector(): Promise<{ runner: Runner } | { why: string }> {
  const candidates: Array<(dir: string) => Promise<Runner>> = [
    installedByNpx,
    () => Promise.resolve({ label: "npx", cmd: "npx", args: ["-y", INSPECTOR_SPEC] }),
    () =>
      Promise.resolve({
        label: "deno npm:",
        cmd: Deno.execPath(),
        args: ["run", "-A", "--no-config", "--no-lock", `npm:${INSPECTOR_SPEC}`],
      }),
  ];
  const reasons: string[] = [];
  const dir = await Deno.makeTempDir({ prefix: "csc-inspector-probe-" });
  try {
    for (const candidate of candidates) {
      let label = candidate.name || "candidate";
      try {
        const runner = await candidate(dir);
        label = runner.label;
        // The first run may install the package: allow minutes, not seconds.
        const res = await runWithDeadline(runner.cmd, [...runner.args, "--cli", "--version"], {
          cwd: dir,
          timeoutMs: 240_000,
        });
        if (res.code === 0 && res.stdout.trim() === INSPECTOR_VERSION) return { runner };
        reasons.push(
          `${label}: exit ${res.code}${res.timedOut ? " (timed out)" : ""}, stdout ${
            JSON.stringify(res.stdout.trim().slice(0, 200))
          }, stderr ${JSON.stringify(res.stderr.trim().slice(-400))}`,
        );
      } catch (err) {
        reasons.push(`${label}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return { why: reasons.join("\n  ") };
}

const located = await locateInspector();
const runner = "runner" in located ? located.runner : null;
if (!runner) {
  console.log(
    `inspector_test: SKIPPED — could not run the MCP Inspector ${INSPECTOR_VERSION}:\n  ${
      "why" in located ? located.why : ""
    }`,
  );
}

/** One Inspector CLI run against a fresh server in `project`. */
interface InspectorRun {
  code: number;
  stdout: string;
  stderr: string;
  // deno-lint-ignore no-explicit-any
  envelope: Record<string, any>;
}

/** Runs the Inspector CLI (`--format json`) with `args` against the server in `project`. */
async function inspect(project: Project, args: string[]): Promise<InspectorRun> {
  if (!runner) throw new Error("no Inspector");
  // The Inspector gives its stdio child only a few variables plus these.
  const env = await childEnv(project.home);
  const pass = ["HOME", "DENO_DIR", "NO_COLOR", "DENO_COVERAGE_DIR"]
    .filter((k) => env[k] !== undefined)
    .flatMap((k) => ["-e", `${k}=${env[k]}`]);
  const res = await runWithDeadline(runner.cmd, [
    ...runner.args,
    "--cli",
    "--format",
    "json",
    "--cwd",
    project.root,
    ...pass,
    ...args,
    "--",
    Deno.execPath(),
    ...serverArgs(),
  ], { cwd: project.base, timeoutMs: 60_000 });
  const where = `inspector ${args.join(" ")}: exit ${res.code}${
    res.timedOut ? " (timed out)" : ""
  }\nstdout: ${res.stdout}\nstderr: ${res.stderr}`;
  let envelope;
  try {
    envelope = JSON.parse(res.stdout);
  } catch {
    assert.fail(`stdout is not one JSON object: ${where}`);
  }
  return { ...res, envelope };
}

Deno.test({
  name: `Inspector ${INSPECTOR_VERSION} lists the seventeen tools and --strict finds nothing`,
  ignore: runner === null,
  fn: async () => {
    await withProject(async (project) => {
      const run = await inspect(project, ["--method", "tools/list", "--strict"]);
      assert.equal(run.code, 0, run.stderr);
      const names = (run.envelope.result?.tools ?? []).map((t: { name: string }) => t.name);
      assert.deepEqual([...names].sort(), [...TOOL_NAMES].sort());
      for (const tool of run.envelope.result.tools) {
        assert.equal(tool.inputSchema?.type, "object", tool.name);
        // Compact by design: results are self-describing JSON text, no output schema.
        assert.equal(tool.outputSchema, undefined, tool.name);
      }
      const findings = (run.envelope.schemaFindings ?? []) as Array<{
        toolName: string;
        findings: Array<{ rule: string; severity: string; schema: string; path: string }>;
      }>;
      const lines = findings.flatMap((t) =>
        t.findings.map((f) => `${t.toolName} ${f.schema}.${f.path}: ${f.rule} (${f.severity})`)
      );
      assert.deepEqual(lines, [], `--strict found:\n${lines.join("\n")}`);
      assert.doesNotMatch(run.stderr, /^(Warning|Error): tool/m);
      assert.doesNotMatch(run.stderr, /Schema portability/);
    });
  },
});

Deno.test({
  name: "Inspector: store_data in a fresh server returns NOT_SIGNED_ON as the tool result",
  ignore: runner === null,
  fn: async () => {
    await withProject(async (project) => {
      const run = await inspect(project, [
        "--method",
        "tools/call",
        "--tool-name",
        "store_data",
        "--tool-args-json",
        JSON.stringify({ scope: "tasks", key: "k", value: { a: 1 } }),
      ]);
      assert.equal(run.code, EXIT_TOOL_ERROR, run.stderr);
      const result = run.envelope.result;
      assert.equal(result?.isError, true, run.stdout);
      assert.match(result.content[0].text, /^NOT_SIGNED_ON: .*Call sign_on first/);
    });
  },
});

Deno.test({
  name: "Inspector: sign_on succeeds with a structured result, and the instance is released",
  ignore: runner === null,
  fn: async () => {
    const project = await createProject();
    try {
      const first = await inspect(project, ["--method", "tools/call", "--tool-name", "sign_on"]);
      assert.equal(first.code, 0, first.stderr);
      const on = first.envelope.result?.structuredContent;
      assert.ok(on, first.stdout);
      assert.equal(first.envelope.result.isError, undefined);
      assert.equal(on.session_id, "claude_1");
      assert.equal(on.project, PROJECT_ID);
      assert.equal(on.claim, "claimed");
      assert.equal(on.handoff, null);
      assert.deepEqual(on.active_sessions.map((s: { session_id: string }) => s.session_id), [
        "claude_1",
      ]);
      assert.deepEqual(JSON.parse(first.envelope.result.content[0].text), on);

      // The first server exited when the Inspector left, releasing claude_1:
      // a named claim of it now succeeds, and nobody else is active.
      const second = await inspect(project, [
        "--method",
        "tools/call",
        "--tool-name",
        "sign_on",
        "--tool-args-json",
        JSON.stringify({ session_id: "claude_1" }),
      ]);
      assert.equal(second.code, 0, second.stderr);
      const again = second.envelope.result.structuredContent;
      assert.equal(again.session_id, "claude_1");
      assert.equal(again.claim, "claimed");
      assert.equal(again.active_sessions.length, 1);

      const context = await inspect(project, [
        "--method",
        "resources/read",
        "--uri",
        "session://context",
      ]);
      assert.equal(context.code, 0, context.stderr);
      const view = JSON.parse(context.envelope.result.contents[0].text);
      assert.equal(view.project, PROJECT_ID);
      assert.equal(view.this_session, null);
      assert.deepEqual(view.active_sessions, []);
      assert.equal(view.first_available, "claude_1");
    } finally {
      await removeProject(project);
    }
  },
});

Deno.test({
  name: "Inspector: runner check (prints how the Inspector was run)",
  ignore: runner === null,
  fn: async () => {
    await withProject(async (project) => {
      const res = await runWithDeadline(runner!.cmd, [...runner!.args, "--cli", "--help"], {
        cwd: project.base,
        timeoutMs: 60_000,
      });
      assert.equal(res.code, 0, res.stderr);
      // The flags these tests rely on exist in the pinned version.
      for (
        const flag of ["--method", "--tool-name", "--tool-args-json", "--strict", "--format", "-e"]
      ) {
        assert.ok(res.stdout.includes(`${flag} `), `inspector --cli --help lacks ${flag}`);
      }
      console.log(`inspector_test: ran ${INSPECTOR_SPEC} via ${runner!.label}`);
    }, { config: null });
  },
});
