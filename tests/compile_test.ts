/**
 * The compiled binary behaves like `deno run main.ts`. `deno compile` needs a
 * Deno runtime (denort) that it normally downloads; where that cannot be
 * reached, point DENORT_BIN at a local denort and this test builds and runs
 * the binary. Without it, it says plainly that it skipped and why.
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  binaryPermissions,
  compile,
  outputPath,
  startPermissions,
  TARGETS,
} from "../scripts/compile.ts";
import { VERSION } from "../src/setup/version.ts";
import { makeRepo } from "./_inprocess.ts";

const root = resolve(import.meta.dirname ?? ".", "..");
const denort = Deno.env.get("DENORT_BIN");
const hostTarget = ({
  "x86_64-linux": "x86_64-unknown-linux-gnu",
  "aarch64-linux": "aarch64-unknown-linux-gnu",
  "x86_64-darwin": "x86_64-apple-darwin",
  "aarch64-darwin": "aarch64-apple-darwin",
  "x86_64-windows": "x86_64-pc-windows-msvc",
} as Record<string, string>)[`${Deno.build.arch}-${Deno.build.os}`];

Deno.test("compile targets and baked-in permissions follow the start task", () => {
  assert.equal(TARGETS.length, 5);
  assert.deepEqual(startPermissions(), [
    "--allow-read",
    "--allow-write",
    "--allow-env=CLAUDE_SESSION_COORDINATOR_CONFIG,HOME,USERPROFILE,HOSTNAME,COMPUTERNAME",
    "--allow-run=git",
    "--allow-sys=hostname",
  ]);
  const withToken = startPermissions().map((f) =>
    f.startsWith("--allow-env=")
      ? `${f},CLAUDE_SESSION_COORDINATOR_TOKEN`
      : f === "--allow-sys=hostname"
      ? "--allow-sys=hostname,statfs"
      : f
  );
  assert.deepEqual(binaryPermissions(), [
    ...withToken,
    "--allow-net",
    "--ignore-env=PGBINARY,PGREPLICATION",
  ]);
  assert.match(
    outputPath("/r", "x86_64-pc-windows-msvc"),
    /claude-session-coordinator-x86_64-pc-windows-msvc\.exe$/,
  );
});

if (!denort) {
  console.warn(
    "compile_test: SKIPPED building the binary: DENORT_BIN is not set, and `deno compile` " +
      "cannot download its runtime from this machine. Set DENORT_BIN to a denort binary to run it.",
  );
}

Deno.test({
  name: "the compiled binary prints its version and serves sign_on/store/retrieve over stdio",
  ignore: !denort || !hostTarget,
  async fn() {
    const binary = await compile(root, hostTarget!);
    const version = await new Deno.Command(binary, { args: ["--version"] }).output();
    assert.equal(
      new TextDecoder().decode(version.stdout).trim(),
      `claude-session-coordinator ${VERSION}`,
    );
    const repo = await makeRepo();
    const client = new Client({ name: "compile-test", version: "1" });
    try {
      await client.connect(
        new StdioClientTransport({ command: binary, args: [], cwd: repo, stderr: "pipe" }),
      );
      const call = (name: string, args: Record<string, unknown>) =>
        client.callTool({ name, arguments: args }) as Promise<
          { structuredContent?: Record<string, unknown> }
        >;
      assert.equal((await call("sign_on", {})).structuredContent?.session_id, "claude_1");
      await call("store_data", { scope: "t", key: "k", value: { ok: true } });
      assert.deepEqual(
        (await call("retrieve_data", { scope: "t", key: "k" })).structuredContent?.value,
        { ok: true },
      );
    } finally {
      await client.close();
      await Deno.remove(repo, { recursive: true });
    }
  },
});
