/**
 * `deno run -A bench/profile.ts [--json=PATH]`: where a write's time goes on
 * this machine, piece by piece, in one process (no MCP):
 *
 * - the durability floor: write + fsync + rename (+ directory fsync), 500 times,
 *   for a 100 B and a 100 KB file, and the same without any fsync;
 * - the lock: open + flock + unlock + close of a scope's lock file;
 * - JSON: parsing and encoding a whole scope of 10, 300, 1,000 and 10,000 keys
 *   (what a whole-file format pays per write);
 * - the alternatives: an append + fdatasync, a write into a preallocated file;
 * - process start: an empty deno script, `main.ts --version`, `node -e 0`;
 * - the local adapter itself: store() and retrieve() at 10, 300, 1,000 and 10,000
 *   keys, in process, so the rest of a tool call's time is MCP and JSON-RPC;
 * - MCP without stdio: the SDK client and our McpServer over InMemoryTransport
 *   (ping, retrieve_data of a missing key, store_data), against the same calls
 *   made straight to the domain functions.
 *
 * bench.ts measures the MCP side (ping, and a tool call on an empty scope).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";
import { readWorkTree } from "../src/setup/git.ts";
import { createMcpServer } from "../src/mcp/server.ts";
import { realScheduler } from "../src/core/context.ts";
import { createBinding, type SessionContext } from "../src/core/session/mod.ts";
import { retrieveData, storeData } from "../src/core/data.ts";
import { withFileLock } from "../src/storage/file/_io.ts";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import { validateScope } from "../src/core/scope.ts";
import { scopeToFileName } from "../src/storage/file/names.ts";
import { round } from "./_stats.ts";
import { quantile } from "./_stats.ts";
import { makeGitRepo, REPO_ROOT, startTaskFlags, TempDirs } from "./_setup.ts";
import { payload } from "./_subjects.ts";

type Stat = { p50: number; p99: number; n: number };

function stat(samples: number[]): Stat {
  return {
    p50: round(quantile(samples, 0.5)),
    p99: round(quantile(samples, 0.99)),
    n: samples.length,
  };
}

async function times(n: number, fn: (i: number) => Promise<void> | void): Promise<Stat> {
  for (let i = 0; i < Math.min(20, n); i++) await fn(-1 - i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return stat(out);
}

/** write (+ fsync) + rename (+ fsync of the directory), like replaceFileAtomically. */
async function replace(dir: string, bytes: Uint8Array, fsync: boolean, dirSync: boolean) {
  const temp = join(dir, ".t.tmp");
  const file = await Deno.open(temp, { write: true, create: true, truncate: true });
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
  if (fsync) await file.sync();
  file.close();
  await Deno.rename(temp, join(dir, "t.json"));
  if (dirSync) {
    const d = await Deno.open(dir, { read: true });
    await d.sync();
    d.close();
  }
}

/** A scope file of n keys in the adapter's format (format 1). */
function scopeDoc(n: number) {
  const at = new Date().toISOString();
  const data: Record<string, unknown> = {};
  const keys: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    data[`pre${i}`] = payload(`pre${i}`);
    keys[`pre${i}`] = { version: i + 1, updated_at: at, updated_by: "claude_1", expires_at: null };
  }
  return {
    format: 1,
    scope: "m:p:s",
    data,
    metadata: { seq: n, created_at: at, updated_at: at, keys },
  };
}

/**
 * The same work as serializeScope in src/storage/file/adapter.ts (not exported): keys
 * sorted, one line per key for data and for metadata. Kept in step by hand.
 */
function lineFormat(doc: ReturnType<typeof scopeDoc>): string {
  const j = JSON.stringify;
  const keys = Object.keys(doc.data).sort();
  const meta = doc.metadata.keys as Record<string, unknown>;
  const data = keys.map((k) => `    ${j(k)}: ${j(doc.data[k])}`);
  const metaLines = keys.map((k) => `      ${j(k)}: ${j(meta[k])}`);
  return [
    "{",
    `  "format": 1,`,
    `  "scope": ${j(doc.scope)},`,
    `  "data": {\n${data.join(",\n")}\n  },`,
    `  "metadata": {`,
    `    "seq": ${doc.metadata.seq},`,
    `    "keys": {\n${metaLines.join(",\n")}\n    }`,
    "  }",
    "}",
    "",
  ].join("\n");
}

async function main() {
  const { values } = parseArgs({ args: Deno.args, options: { json: { type: "string" } } });
  const temps = new TempDirs();
  const out: Record<string, unknown> = {};
  const print = (what: string, s: Stat | number) =>
    console.log(
      typeof s === "number"
        ? `${what.padEnd(58)} ${s}`
        : `${what.padEnd(58)} p50 ${s.p50} ms  p99 ${s.p99} ms  (n=${s.n})`,
    );
  try {
    const dir = await temps.make("profile");
    const n = 500;
    console.log(`# durability floor (${n} times each)`);
    for (const size of [100, 100 * 1024]) {
      const bytes = new Uint8Array(size).fill(0x61);
      const label = size === 100 ? "100 B" : "100 KB";
      const full = await times(n, () => replace(dir, bytes, true, true));
      const fileOnly = await times(n, () => replace(dir, bytes, true, false));
      const none = await times(n, () => replace(dir, bytes, false, false));
      out[`replace_${size}`] = {
        fsync_file_and_dir: full,
        fsync_file_only: fileOnly,
        no_fsync: none,
      };
      print(`${label}: write+fsync+rename+fsync(dir)`, full);
      print(`${label}: write+fsync+rename`, fileOnly);
      print(`${label}: write+rename, no fsync (what the peer does)`, none);
    }

    console.log(`\n# alternatives to a whole-file rewrite (${n} times each)`);
    const line = new TextEncoder().encode(JSON.stringify({ k: "key", v: payload("key") }) + "\n");
    const log = await Deno.open(join(dir, "append.log"), { append: true, create: true });
    const append = await times(n, async () => {
      await log.write(line);
      await log.syncData();
    });
    log.close();
    const pre = await Deno.open(join(dir, "prealloc.log"), {
      read: true,
      write: true,
      create: true,
    });
    await pre.truncate(line.length * (n + 40));
    await pre.sync();
    let at = 0;
    const inPlace = await times(n, async () => {
      await pre.seek(at, Deno.SeekMode.Start);
      await pre.write(line);
      await pre.syncData();
      at += line.length;
    });
    pre.close();
    out.alternatives = { append_fdatasync: append, preallocated_fdatasync: inPlace };
    print(`append ${line.length} B + fdatasync (log grows)`, append);
    print(`write ${line.length} B into a preallocated file + fdatasync`, inPlace);

    console.log(`\n# lock acquisition (${n} times)`);
    const lockPath = join(dir, "x.lock");
    const lock = await times(n, () => withFileLock(lockPath, () => Promise.resolve()));
    out.lock = lock;
    print("open + flock + unlock + close (uncontended)", lock);

    console.log("\n# JSON of a whole scope file");
    const json: Record<string, unknown> = {};
    for (const keys of [10, 300, 1000, 10000]) {
      const doc = scopeDoc(keys);
      const text = JSON.stringify(doc);
      const reps = keys >= 10000 ? 30 : 200;
      const enc = await times(reps, () => void JSON.stringify(doc));
      const lines = await times(reps, () => void lineFormat(doc));
      const dec = await times(reps, () => void JSON.parse(text));
      const bytes = new TextEncoder().encode(text);
      const file = join(dir, `scope${keys}.json`);
      await Deno.writeFile(file, new TextEncoder().encode(text));
      const read = await times(reps, () => Deno.readFile(file).then(() => {}));
      const decodeUtf8 = await times(
        reps,
        () => void new TextDecoder("utf-8", { fatal: true }).decode(bytes),
      );
      json[keys] = {
        bytes: text.length,
        stringify: enc,
        line_format: lines,
        parse: dec,
        utf8_decode: decodeUtf8,
        read_file: read,
      };
      print(`${keys} keys (${(text.length / 1024).toFixed(0)} KiB): JSON.stringify`, enc);
      print(`${keys} keys: the adapter's one-line-per-key encoding (copy)`, lines);
      print(`${keys} keys: JSON.parse`, dec);
      print(`${keys} keys: UTF-8 decode (fatal)`, decodeUtf8);
      print(`${keys} keys: Deno.readFile (page cache)`, read);
    }
    out.json = json;

    console.log(
      "\n# the local adapter in process (no MCP); each store() undone by an untimed delete()",
    );
    const adapterOut: Record<string, unknown> = {};
    for (const keys of [10, 300, 1000, 10000]) {
      const base = await temps.make(`adapter${keys}`);
      const adapter = await createFileAdapter({
        basePath: base,
        limits: { maxValueBytes: 1 << 20 },
      });
      try {
        const scope = `m:p:growth${keys}`;
        // Seeded by writing the scope file (format 1) directly: filling it one
        // store() at a time would rewrite the whole file per key.
        const doc = scopeDoc(keys);
        doc.scope = scope;
        await Deno.writeTextFile(
          join(base, scopeToFileName(validateScope(scope))),
          JSON.stringify(doc),
        );
        const reps = keys >= 10000 ? 40 : 200;
        // Each timed store of a new key is undone (untimed), so the size stays `keys`.
        const storeSamples: number[] = [];
        for (let i = -10; i < reps; i++) {
          const t0 = performance.now();
          await adapter.store(scope, `new${i}`, payload(`new${i}`));
          if (i >= 0) storeSamples.push(performance.now() - t0);
          await adapter.delete(scope, `new${i}`);
        }
        const store = stat(storeSamples);
        const retrieve = await times(
          reps,
          (i) => adapter.retrieve(scope, `pre${Math.abs(i) % keys}`).then(() => {}),
        );
        adapterOut[keys] = { store, retrieve };
        print(`${keys} keys: store() of a new key, durable`, store);
        print(`${keys} keys: retrieve() of a present key`, retrieve);
      } finally {
        await adapter.close();
      }
    }
    out.adapter = adapterOut;

    console.log("\n# MCP in one process (SDK client + our McpServer over InMemoryTransport)");
    out.mcp_in_process = await mcpInProcess(temps, print);

    console.log("\n# process start, to exit (median of 7 after one warm-up)");
    out.startup = await startup(temps);

    if (values.json) {
      await Deno.writeTextFile(values.json, JSON.stringify(out, null, 2) + "\n");
      console.log(`\nwrote ${values.json}`);
    }
  } finally {
    await temps.removeAll();
  }
}

/** How long processes take to start and exit: the floor under the cold start row. */
async function startup(temps: TempDirs): Promise<Record<string, number>> {
  const dir = await temps.make("startup");
  const empty = join(dir, "empty.ts");
  await Deno.writeTextFile(empty, "export {};\n");
  const flags = await startTaskFlags();
  const runs: Array<[string, string, string[]]> = [
    ["deno run of an empty script", Deno.execPath(), ["run", empty]],
    [
      "deno run main.ts --version (loads every module of the server)",
      Deno.execPath(),
      [
        "run",
        ...flags,
        "--config",
        join(REPO_ROOT, "deno.json"),
        join(REPO_ROOT, "main.ts"),
        "--version",
      ],
    ],
    ["node -e 0", "node", ["-e", "0"]],
  ];
  const res: Record<string, number> = {};
  for (const [label, cmd, args] of runs) {
    const samples: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t0 = performance.now();
      const out = await new Deno.Command(cmd, { args, cwd: dir, stdout: "null", stderr: "null" })
        .output();
      if (!out.success) throw new Error(`${label} failed`);
      if (i > 0) samples.push(performance.now() - t0);
    }
    res[label] = round(quantile(samples, 0.5), 1);
    console.log(`${label.padEnd(58)} ${res[label]} ms`);
  }
  return res;
}

/** Our server's tool path without stdio, and the same work without MCP. */
async function mcpInProcess(
  temps: TempDirs,
  print: (what: string, s: Stat) => void,
): Promise<Record<string, Stat>> {
  const repo = await temps.make("mcprepo");
  await makeGitRepo(repo);
  const storage = await createFileAdapter({
    basePath: join(repo, ".state"),
    limits: { maxValueBytes: 1 << 20 },
  });
  const ctx: SessionContext = {
    storage,
    identity: { machine: "bench", project: "bench" },
    leaseTtlSeconds: 60,
    scheduler: realScheduler,
  };
  const binding = createBinding({ pid: Deno.pid, client: "profile" }, () => readWorkTree(repo));
  const server = createMcpServer(ctx, binding, { version: "bench", log: () => {} });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: "profile", version: "1" });
  await server.connect(serverSide);
  await client.connect(clientSide);
  const res: Record<string, Stat> = {};
  try {
    await client.callTool({ name: "sign_on", arguments: {} });
    const n = 500;
    res.ping = await times(n, () => client.ping().then(() => {}));
    print("ping", res.ping);
    res.tool_retrieve_missing = await times(
      n,
      () =>
        client.callTool({ name: "retrieve_data", arguments: { scope: "absent", key: "k" } })
          .then(() => {}),
    );
    print("retrieve_data of a missing key (tool call)", res.tool_retrieve_missing);
    res.domain_retrieve_missing = await times(
      n,
      () => retrieveData(ctx, binding, { scope: "absent", key: "k" }).then(() => {}),
    );
    print("the same without MCP (retrieveData)", res.domain_retrieve_missing);
    const request = JSON.stringify({
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: { name: "store_data", arguments: { scope: "s", key: "k", value: payload("k") } },
    });
    res.line_parse = await times(n, () => void JSONRPCMessageSchema.safeParse(JSON.parse(request)));
    print("a store_data request line: JSON.parse + JSONRPCMessageSchema (zod)", res.line_parse);
    res.tool_store = await times(n, (i) =>
      client.callTool({
        name: "store_data",
        arguments: { scope: "mcp", key: `t${i}`, value: payload(`t${i}`) },
      }).then(() => {}));
    print("store_data of a new key, 20-520 keys (tool call)", res.tool_store);
    res.domain_store = await times(
      n,
      (i) =>
        storeData(ctx, binding, { scope: "mcp2", key: `t${i}`, value: payload(`t${i}`) })
          .then(() => {}),
    );
    print("the same without MCP (storeData)", res.domain_store);
  } finally {
    await client.close();
    await server.close();
    await storage.close();
  }
  return res;
}

if (import.meta.main) await main();
