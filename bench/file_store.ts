/**
 * `deno run -A bench/file_store.ts [--n=500] [--dir=PATH] [--json=PATH]`: what
 * a durable store() of the local adapter costs in one process, unguarded and
 * guarded (the guard key in another scope, as a session's lease is, and in
 * the same scope), plus a writeBatch of 10 sets. Rounds of each kind
 * alternate, so drift of the disk or the machine falls on all of them alike.
 *
 * fdatasync dominates and varies with the disk; `--dir=/dev/shm` (tmpfs,
 * where it costs next to nothing) shows what the code itself costs.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { createFileAdapter } from "../src/storage/file/adapter.ts";
import type { Guard, StorageAdapter } from "../src/storage/contract.ts";
import { latency } from "./_stats.ts";

type Kind = "unguarded" | "guarded_other_scope" | "guarded_same_scope" | "batch_of_10";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "500" },
    dir: { type: "string" },
    json: { type: "string" },
  },
});
const n = Number(values.n);
const root = await Deno.makeTempDir({ prefix: "csc_bench_store_", dir: values.dir });
let adapter: StorageAdapter | undefined;
try {
  adapter = await createFileAdapter({
    basePath: join(root, "state"),
    limits: { maxValueBytes: 1 << 20 },
  });
  const a = adapter;
  await a.store("p:instances", "claude_1", { grant: "g1", pid: 1 });
  await a.store("p:data", "claude_1", { grant: "g1", pid: 1 });
  const other: Guard = { scope: "p:instances", key: "claude_1", field: "grant", equals: "g1" };
  const same: Guard = { ...other, scope: "p:data" };
  const value = { title: "a task", notes: "x".repeat(200) };
  const run: Record<Kind, (i: number) => Promise<unknown>> = {
    unguarded: (i) => a.store("p:data", `k${i % 50}`, value),
    guarded_other_scope: (i) => a.store("p:data", `k${i % 50}`, value, { guard: other }),
    guarded_same_scope: (i) => a.store("p:data", `k${i % 50}`, value, { guard: same }),
    batch_of_10: (i) =>
      a.writeBatch(
        "p:batch",
        Array.from({ length: 10 }, (_, j) => ({ op: "set", key: `k${(i + j) % 50}`, value })),
        { guard: other },
      ),
  };
  const samples: Record<Kind, number[]> = {
    unguarded: [],
    guarded_other_scope: [],
    guarded_same_scope: [],
    batch_of_10: [],
  };
  // An adapter older than writeBatch (for a before/after comparison) skips that row.
  const kinds = (Object.keys(run) as Kind[]).filter((k) =>
    k !== "batch_of_10" || typeof a.writeBatch === "function"
  );
  for (const kind of kinds) for (let i = 0; i < 50; i++) await run[kind](i); // warm-up
  const round = 50;
  for (let done = 0; done < n; done += round) {
    for (const kind of kinds) {
      for (let i = done; i < Math.min(n, done + round); i++) {
        const t0 = performance.now();
        await run[kind](i);
        samples[kind].push(performance.now() - t0);
      }
    }
  }
  const out: Record<string, unknown> = {};
  for (const kind of kinds) {
    out[kind] = latency(samples[kind]);
    const { p50, p99 } = latency(samples[kind]);
    console.log(`${kind.padEnd(22)} p50 ${p50.toFixed(3)} ms  p99 ${p99.toFixed(3)} ms  n ${n}`);
  }
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(out, null, 2) + "\n");
} finally {
  await adapter?.close();
  await Deno.remove(root, { recursive: true });
}
