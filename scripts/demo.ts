/**
 * `deno task demo`: two sessions on one project, driven through the real MCP
 * client over stdio, step by step: claiming instances, racing for one claim,
 * seeing each other's work, a handoff that survives a restart, and the work
 * board (tasks with dependencies, a message, a file reservation).
 *
 * Everything happens in a throwaway git repository that is removed at the end.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { join, resolve } from "node:path";
import meta from "../deno.json" with { type: "json" };

const root = resolve(import.meta.dirname ?? ".", "..");
const color = Deno.noColor
  ? (_: number, s: string) => s
  : (c: number, s: string) => `\x1b[${c}m${s}\x1b[0m`;
const bold = (s: string) => color(1, s);
const dim = (s: string) => color(2, s);
const green = (s: string) => color(32, s);
const yellow = (s: string) => color(33, s);
const cyan = (s: string) => color(36, s);

let stepNo = 0;
function step(title: string): void {
  console.log(`\n${bold(`${++stepNo}. ${title}`)}`);
}

/** Result shape the demo reads; the SDK's own types are loose under Deno. */
interface ToolResult {
  isError?: boolean;
  content: Array<{ type: string; text: string }>;
  structuredContent?: Record<string, unknown>;
}

interface Session {
  name: string;
  call(tool: string, args?: Record<string, unknown>): Promise<ToolResult>;
  read(uri: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

async function git(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("git", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Starts one server in `repo` with the start task's permissions and connects a client. */
async function startSession(name: string, repo: string): Promise<Session> {
  const flags = meta.tasks.start.split(/\s+/).filter((a) => a.startsWith("--allow-"));
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: ["run", ...flags, join(root, "main.ts")],
    cwd: repo,
    stderr: "ignore",
  });
  const client = new Client({ name: `demo-${name}`, version: "1.0.0" });
  await client.connect(transport);
  return {
    name,
    async call(tool, args = {}) {
      const res = await client.callTool({ name: tool, arguments: args }) as ToolResult;
      const shown = JSON.stringify(args);
      const text = res.isError
        ? yellow(res.content[0].text.split("\n")[0])
        : green(summarize(res.structuredContent ?? {}));
      console.log(`   ${cyan(name)} ${tool}(${dim(shown === "{}" ? "" : shown)}) → ${text}`);
      return res;
    },
    async read(uri) {
      const res = await client.readResource({ uri });
      return JSON.parse((res.contents[0] as { text: string }).text);
    },
    close: () => client.close(),
  };
}

function summarize(value: Record<string, unknown>): string {
  const text = JSON.stringify(value);
  return text.length > 160 ? text.slice(0, 157) + "..." : text;
}

/** Runs the demo in a fresh repository, which is removed afterwards. */
export async function demo(): Promise<void> {
  const repo = await Deno.realPath(await Deno.makeTempDir({ prefix: "csc-demo-" }));
  const sessions: Session[] = [];
  try {
    await git(["init", "-q", "-b", "main"], repo);
    await git(["remote", "add", "origin", "git@github.com:acme/widget.git"], repo);
    await Deno.writeTextFile(join(repo, "README.md"), "widget\n");
    await git(["add", "README.md"], repo);
    await git([
      "-c",
      "user.name=demo",
      "-c",
      "user.email=demo@example.com",
      "commit",
      "-qm",
      "init",
    ], repo);
    console.log(bold("claude-session-coordinator demo"));
    console.log(dim(`a throwaway repository: ${repo} (origin git@github.com:acme/widget.git)`));

    step("Two sessions start in the same project and sign on");
    const alice = await startSession("session A", repo);
    const bob = await startSession("session B", repo);
    sessions.push(alice, bob);
    const a = (await alice.call("sign_on")).structuredContent!;
    const b = (await bob.call("sign_on")).structuredContent!;
    console.log(
      `   → they hold ${bold(String(a.session_id))} and ${
        bold(String(b.session_id))
      } of project ${a.project}`,
    );

    step("Both try to claim issue-7 at the same moment; exactly one wins");
    const claim = (s: Session, id: unknown) =>
      s.call("store_data", {
        scope: "@project:claims",
        key: "issue-7",
        value: { by: id },
        if_version: 0,
        ttl_seconds: 3600,
      });
    const [ra, rb] = await Promise.all([claim(alice, a.session_id), claim(bob, b.session_id)]);
    if (Boolean(ra.isError) === Boolean(rb.isError)) {
      throw new Error("exactly one of the two claims should have won");
    }
    const winner = ra.isError ? bob : alice;
    const loser = ra.isError ? alice : bob;
    const winnerId = ra.isError ? b.session_id : a.session_id;
    console.log(
      `   → ${winner.name} got issue-7; ${loser.name} was told VERSION_CONFLICT and picks issue-8`,
    );
    await loser.call("store_data", {
      scope: "@project:claims",
      key: "issue-8",
      value: { by: ra.isError ? a.session_id : b.session_id },
      if_version: 0,
    });

    step("The winner records its progress; the other sees it in session://context");
    await winner.call("store_data", {
      scope: `session:${winnerId}`,
      key: "current_issue",
      value: "issue-7",
    });
    await winner.call("store_data", {
      scope: `session:${winnerId}`,
      key: "status",
      value: "writing the fix",
    });
    await winner.call("store_data", {
      scope: `session:${winnerId}`,
      key: "todos",
      value: [{ content: "reproduce", status: "completed" }, {
        content: "fix the parser",
        status: "in_progress",
      }],
    });
    const view = await loser.read("session://context");
    for (const s of view.active_sessions as Array<Record<string, unknown>>) {
      console.log(
        `   ${loser.name} sees ${bold(String(s.session_id))} on ${s.machine} (${s.branch}): ` +
          `issue ${s.current_issue ?? "-"}, status ${s.status ?? "-"}, ${
            s.open_todo_count ?? 0
          } open todos`,
      );
    }

    step("The winner signs off with a handoff; its process exits");
    await winner.call("sign_off", {
      summary: "Reproduced issue-7; the parser fix is half done in src/parse.ts.",
      next_steps: ["Finish the parser fix", "Add a regression test for issue-7"],
    });
    await winner.close();
    sessions.splice(sessions.indexOf(winner), 1);

    step("A new session starts later, resumes that instance and receives the handoff");
    const carol = await startSession("session C", repo);
    sessions.push(carol);
    const resumed = (await carol.call("sign_on", { session_id: winnerId })).structuredContent!;
    const handoff = resumed.handoff as Record<string, unknown>;
    console.log(`   → ${bold(String(resumed.session_id))} resumes: "${handoff.summary}"`);
    console.log(`     next steps: ${(handoff.next_steps as string[]).join("; ")}`);
    console.log(
      `     recorded by the server: branch ${handoff.branch}, commit ${
        String(handoff.commit).slice(0, 12)
      }`,
    );

    step("The work board: tasks with dependencies; each claim goes to exactly one session");
    await loser.call("post_task", { task_id: "schema", title: "Design the schema", priority: 1 });
    await loser.call("post_task", {
      task_id: "api",
      title: "Build the API",
      depends_on: ["schema"],
    });
    await loser.call("post_task", { task_id: "docs", title: "Write the docs" });
    const [c1, c2] = await Promise.all([carol.call("claim_task"), loser.call("claim_task")]);
    const took = (r: ToolResult) =>
      ((r.structuredContent?.task ?? {}) as { task_id?: string }).task_id;
    console.log(`   → ${carol.name} took ${took(c1)}, ${loser.name} took ${took(c2)}; "api" waits`);
    const schemaHolder = took(c1) === "schema" ? carol : loser;
    const schemaClaim = took(c1) === "schema" ? c1 : c2;
    await schemaHolder.call("update_task", {
      task_id: "schema",
      status: "done",
      note: "tables in docs/schema.md",
      fencing_token: schemaClaim.structuredContent?.fencing_token,
    });
    const api = (await loser.call("list_tasks", { task_id: "api" })).structuredContent!;
    console.log(
      `   → "schema" is done, so "api" is ${
        bold(String((api.tasks as { status: string }[])[0].status))
      } now, without anyone touching it`,
    );

    step("A message, and a file reservation the other session respects");
    await carol.call("send_message", {
      to: String(loser === alice ? a.session_id : b.session_id),
      subject: "parser",
      body: "I am on the parser; please stay out of src/parse.ts.",
    });
    const inbox = (await loser.call("read_messages")).structuredContent!;
    console.log(
      `   → ${loser.name} reads: "${(inbox.messages as { body: string }[])[0]?.body}"`,
    );
    await carol.call("reserve_paths", { paths: ["src/parse.ts"], reason: "parser fix" });
    const refused = await loser.call("reserve_paths", { paths: ["src/**"] });
    console.log(
      `   → ${loser.name} is told ${
        refused.content[0].text.split(":")[0]
      } and edits elsewhere (a git pre-commit guard enforces it: main.ts guard --install)`,
    );

    step("Everyone signs off");
    for (const s of sessions) await s.call("sign_off", { summary: "demo done" });
    console.log(
      `\n${
        green("demo finished")
      }: instances, claims, shared progress, a handoff across a restart, and the board.`,
    );
  } finally {
    for (const s of sessions) await s.close().catch(() => {});
    await Deno.remove(repo, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await demo();
