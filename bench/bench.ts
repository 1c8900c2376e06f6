/**
 * `deno task bench`: measures this server (one row set per adapter listed in
 * bench/adapters.json) and, in the same run, the peer
 * @modelcontextprotocol/server-memory, both over real stdio with the SDK
 * client. Prints a table (ours | peer | ratio | target | met?) and writes the
 * same, with every raw figure and the machine, to bench/results.json; the
 * table between the bench:table markers in bench/README.md (and in README.md,
 * where the markers exist) is replaced too.
 *
 * Flags: --quick (small sizes, for trying the bench itself; writes nothing),
 * --adapters=file,redis (only these rows), --out=PATH, --no-readme,
 * --wait-quiet=SECONDS (wait up to that long for the machine to be idle first).
 * These are measurements, not tests: the exit code is 0 whatever is missed.
 */
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { ensurePeer, type PeerInstall } from "./_peer.ts";
import { type Service, startService } from "./_services.ts";
import {
  cpuSnapshot,
  denoDir,
  type MachineInfo,
  machineInfo,
  makeGitRepo,
  REPO_ROOT,
  sleep,
  startTaskFlags,
  TempDirs,
  treeInfo,
} from "./_setup.ts";
import { fmt, renderTable, round } from "./_stats.ts";
import {
  type CoordinationParams,
  type CoordinationResult,
  DEFAULT_COORDINATION,
  measureCoordination,
} from "./_coordination.ts";
import {
  oursCommand,
  type OursOptions,
  oursSubject,
  peerSubject,
  type PrefillMode,
  type Subject,
} from "./_subjects.ts";
import {
  DEFAULT_PARAMS,
  type OtherLoad,
  runSuites,
  type SuiteParams,
  type SuiteResult,
} from "./_suite.ts";

/** One entry of bench/adapters.json. */
interface AdapterRow {
  name: string;
  config: Record<string, unknown>;
  needs?: string;
  service_args?: string[];
  /** Deno flags added to the start task's, e.g. --allow-net for a network store. */
  deno_flags?: string[];
  prefill?: PrefillMode;
}

/** One line of the table. */
interface Row {
  adapter: string;
  id: string;
  row: string;
  ours: number | string | null;
  peer: number | string | null;
  ratio: number | null;
  target: string;
  met: boolean | null;
}

const QUICK_COORDINATION: CoordinationParams = {
  boardSizes: [100, 1000],
  boardCalls: 10,
  liveTrials: 10,
  idleSeconds: 3,
};

const QUICK_PARAMS: SuiteParams = {
  ...DEFAULT_PARAMS,
  coldStarts: 2,
  warmup: 5,
  calls: 50,
  diagCalls: 30,
  growthSizes: [10, 1000],
  growthCalls: 30,
  writesPerProcess: 20,
  casPerProcess: 5,
  idleWaitMs: 200,
};

const log = (line: string) => console.error(`bench: ${line}`);

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      adapters: { type: "string" },
      out: { type: "string" },
      "no-readme": { type: "boolean" },
      "wait-quiet": { type: "string" },
    },
    strict: true,
  });
  const params = flags.quick ? QUICK_PARAMS : DEFAULT_PARAMS;
  const outPath = flags.out ?? (flags.quick ? null : join(REPO_ROOT, "bench", "results.json"));
  const wanted = flags.adapters?.split(",").map((s) => s.trim()).filter(Boolean);
  const rows = await loadAdapterRows(wanted);

  const temps = new TempDirs();
  const cleanups: Array<() => Promise<void>> = [];
  const began = performance.now();
  // Interrupted: stop the services and remove the temp dirs before leaving. The
  // servers exit by themselves when their stdin closes with this process.
  const onSignal = (sig: Deno.Signal) => async () => {
    log(`${sig}: cleaning up`);
    for (const c of cleanups) await c().catch(() => {});
    await temps.removeAll();
    Deno.exit(130);
  };
  const signals = (["SIGINT", "SIGTERM"] as const).map((sig) => [sig, onSignal(sig)] as const);
  for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);
  try {
    const scratch = await temps.make("root");
    const machine = await machineInfo(scratch);
    log(`${machine.cpu_model}, ${machine.nproc} cores, ${machine.memory_gib} GiB, ${machine.os}`);
    if (flags["wait-quiet"]) await waitQuiet(Number(flags["wait-quiet"]), machine.nproc);
    const noise: Record<string, OtherLoad | null> = {};
    const services: Service[] = [];
    cleanups.push(async () => {
      for (const svc of services) await svc.stop();
    });
    const peerInstall = await ensurePeer(log);
    const flagsOfStart = await startTaskFlags();
    const cacheDir = await denoDir();

    const peerDir = await temps.make("peer");
    const peerHome = await temps.make("peerhome");
    const subjects: Subject[] = [
      peerSubject({
        node: peerInstall.node,
        entry: peerInstall.entry,
        dir: peerDir,
        home: peerHome,
      }),
    ];
    const adapters: AdapterResult[] = [];
    const ourOptions = new Map<string, OursOptions>();
    for (const row of rows) {
      const service = row.needs
        ? await startService(row.needs, row.service_args ?? [], await temps.make(`${row.name}svc`))
        : null;
      if (service && "skip" in service) {
        log(`[${row.name}] SKIPPED: ${service.skip}`);
        adapters.push({ name: row.name, config: row.config, skipped: service.skip });
        continue;
      }
      if (service) services.push(service);
      const repo = await temps.make(`${row.name}repo`);
      await makeGitRepo(repo);
      const vars: Record<string, string> = {
        STATE_DIR: await temps.make(`${row.name}state`),
        ...(service?.vars ?? {}),
      };
      const config = substitute(row.config, vars) as Record<string, unknown>;
      const configPath = join(repo, "bench-config.json");
      await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2));
      const subjectOptions = {
        label: row.name,
        config,
        configPath,
        repo,
        home: await temps.make(`${row.name}home`),
        denoDir: cacheDir,
        flags: [...flagsOfStart, ...(substitute(row.deno_flags ?? [], vars) as string[])],
        prefill: row.prefill ?? "adapter",
      };
      const problem = await preflight(subjectOptions);
      if (problem) {
        log(`[${row.name}] SKIPPED: ${problem}`);
        adapters.push({ name: row.name, config, skipped: problem });
        continue;
      }
      subjects.push(oursSubject(subjectOptions));
      ourOptions.set(row.name, subjectOptions);
      adapters.push({ name: row.name, config });
    }

    const measured = await runSuites(subjects, params, log);
    const { other_load: peerLoad, ...peer } = measured.get("peer")!;
    noise.peer = peerLoad;
    for (const a of adapters) {
      const r = measured.get(a.name);
      if (r) {
        const { other_load, ...result } = r;
        a.result = result;
        a.other_load = other_load;
        noise[a.name] = other_load;
      }
    }

    for (const a of adapters) {
      const options = ourOptions.get(a.name);
      if (!a.result || !options) continue;
      a.coordination = await measureCoordination(
        options,
        flags.quick ? QUICK_COORDINATION : DEFAULT_COORDINATION,
        temps,
        log,
      );
    }

    const table = adapters.flatMap((a) =>
      a.result
        ? [
          ...rowsFor(a.name, a.result, peer),
          ...(a.coordination ? coordinationRows(a.name, a.coordination) : []),
        ]
        : [skippedRow(a.name, a.skipped ?? "")]
    );
    const text = renderRows(table);
    const seconds = round((performance.now() - began) / 1000, 1);
    const code = await treeInfo();
    const noiseLine = `Code: ${code.head}${
      (code.uncommitted_changes as string[]).length ? " + uncommitted changes in src/" : ""
    }; file adapter on-disk format ${code.file_adapter_format}.\n${describeNoise(noise)}`;
    console.log(`\n${describeMachine(machine)}\n${noiseLine}\n\n${text}\n`);
    for (const a of adapters) if (a.skipped) console.log(`[${a.name}] skipped: ${a.skipped}`);
    console.log(`bench took ${seconds} s${flags.quick ? " (--quick: sizes reduced)" : ""}`);

    const results = {
      generated_by: "deno task bench (bench/bench.ts)",
      quick: flags.quick ?? false,
      seconds,
      machine,
      code,
      other_load: noise,
      peer: peerDescription(peerInstall),
      params,
      workload: WORKLOAD,
      table,
      peer_result: peer,
      adapters,
    };
    if (outPath) {
      await Deno.writeTextFile(outPath, JSON.stringify(results, null, 2) + "\n");
      await denoFmt(outPath);
      log(`wrote ${outPath}`);
    }
    if (!flags.quick && !flags["no-readme"] && !flags.adapters) {
      await updateReadme(machine, peerInstall, `${noiseLine}\n\n${text}`);
    }
  } finally {
    for (const [sig, fn] of signals) Deno.removeSignalListener(sig, fn);
    for (const c of cleanups) await c().catch(() => {});
    await temps.removeAll();
  }
}

interface AdapterResult {
  name: string;
  config: unknown;
  skipped?: string;
  result?: SuiteResult;
  coordination?: CoordinationResult;
  other_load?: OtherLoad | null;
}

const WORKLOAD = {
  record:
    "our value is a ~150-byte JSON object; the peer's entity carries the same JSON text as its one observation",
  write:
    "store_data of a new key into one scope / create_entities of one new entity into one memory file; the store starts empty and ends with warmup+calls records",
  read: "retrieve_data / open_nodes of one of those records, in shuffled order",
  growth:
    "the namespace is prefilled with N records (ours: written straight into the scope file for the local adapter, or restore() through the adapter; the peer: create_entities in batches of 500), then each timed write of a new record is followed by an untimed delete so the size stays N",
  contention:
    "8 processes on one store first answer 100 pings each at once (the stack's ceiling), then write 20 untimed warm-up and 100 timed distinct records each into one namespace at once; ops/s = timed writes / wall time; lost = acknowledged (warm-up included) but absent afterwards. Ours then does compare-and-set increments of one counter (retrieve, store with if_version, retry on VERSION_CONFLICT)",
  idle_rss: "VmRSS of the server process 1 s after initialize (+ sign_on for ours)",
  cold_start: "spawn to the end of the initialize handshake; median of 5 after one warm-up",
};

function peerDescription(p: PeerInstall) {
  return {
    package: p.package,
    version: p.version,
    node: p.nodeVersion,
    entry: relative(REPO_ROOT, p.entry),
  };
}

async function loadAdapterRows(wanted?: string[]): Promise<AdapterRow[]> {
  const file = join(REPO_ROOT, "bench", "adapters.json");
  const doc = JSON.parse(await Deno.readTextFile(file));
  const rows = doc.adapters as AdapterRow[];
  for (const r of rows) {
    if (typeof r.name !== "string" || typeof r.config !== "object" || r.config === null) {
      throw new Error(`${file}: every adapter needs a "name" and a "config" object`);
    }
    if (r.prefill !== undefined && r.prefill !== "adapter" && r.prefill !== "local-file") {
      throw new Error(`${file}: ${r.name}: "prefill" must be "adapter" or "local-file"`);
    }
  }
  if (!wanted) return rows;
  const unknown = wanted.filter((w) => !rows.some((r) => r.name === w));
  if (unknown.length) throw new Error(`--adapters: unknown ${unknown.join(", ")} (see ${file})`);
  return rows.filter((r) => wanted.includes(r.name));
}

/** Replaces ${NAME} in every string of a JSON value. */
function substitute(value: unknown, vars: Record<string, string>): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Z_]+)\}/g, (m, name) => vars[name] ?? m);
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  }
  return value;
}

/** Checks the row's config with --validate-config (which also opens the storage); null when fine. */
async function preflight(o: {
  configPath: string;
  repo: string;
  home: string;
  denoDir: string;
  flags: string[];
}): Promise<string | null> {
  const cmd = oursCommand(o, ["--validate-config"]);
  const out = await new Deno.Command(cmd.command, {
    args: cmd.args,
    cwd: cmd.cwd,
    clearEnv: true,
    env: cmd.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.success) {
    // A valid config whose storage cannot be reached still exits 0, saying so in "storage".
    let storage: unknown;
    try {
      storage = JSON.parse(new TextDecoder().decode(out.stdout)).storage;
    } catch {
      return null;
    }
    return typeof storage === "string" && /^unreachable/.test(storage)
      ? `the server cannot reach its storage: ${storage.replace(/^unreachable: /, "")}`
      : null;
  }
  const err = new TextDecoder().decode(out.stderr).trim().split("\n")[0]
    .replace(o.configPath + ": ", "").replace(/^error: /, "");
  return `the server refused the config: ${err}`;
}

/** The table rows for one adapter, with the targets. */
function rowsFor(adapter: string, o: SuiteResult, p: SuiteResult): Row[] {
  const rows: Row[] = [];
  const add = (
    id: string,
    row: string,
    ours: number | string | null,
    peer: number | string | null,
    target = "",
    met: boolean | null = null,
  ) => {
    const ratio = typeof ours === "number" && typeof peer === "number" && peer !== 0
      ? round(ours / peer, 3)
      : null;
    rows.push({ adapter, id, row: `[${adapter}] ${row}`, ours, peer, ratio, target, met });
  };
  const c = o.cold_start_ms.median, pc = p.cold_start_ms.median;
  add(
    "cold_start_ms",
    "cold start, spawn→initialized, ms (median of 5)",
    c,
    pc,
    "≤ 0.75× peer",
    c <= 0.75 * pc,
  );
  add(
    "write_p50_ms",
    "write p50, ms (store_data vs create_entities)",
    o.write.p50,
    p.write.p50,
    "≤ 0.55 ms and ≤ 0.7× peer",
    o.write.p50 <= 0.55 && o.write.p50 <= 0.7 * p.write.p50,
  );
  add("write_p99_ms", "write p99, ms", o.write.p99, p.write.p99);
  add(
    "read_p50_ms",
    "read p50, ms (retrieve_data vs open_nodes)",
    o.read.p50,
    p.read.p50,
    "≤ 0.5 ms",
    o.read.p50 <= 0.5,
  );
  add("read_p99_ms", "read p99, ms", o.read.p99, p.read.p99);
  const g = (n: number, s: SuiteResult) => s.growth[String(n)]?.p50 ?? null;
  for (const n of Object.keys(o.growth).map(Number)) {
    const base = g(10, o);
    const isTarget = n === 1000 && base !== null;
    add(
      `growth_p50_ms_${n}`,
      `write p50 with ${n.toLocaleString("en-US")} keys, ms`,
      g(n, o),
      g(n, p),
      isTarget ? "≤ 2× the 10-key p50" : "",
      isTarget ? (g(n, o) as number) <= 2 * base : null,
    );
  }
  const oc = o.contention, pcn = p.contention;
  add(
    "contention_ops_per_s",
    `contention: ${oc.processes} processes, aggregate writes/s`,
    oc.ops_per_s,
    pcn.ops_per_s,
    "≥ 2,000 ops/s",
    oc.ops_per_s >= 2000,
  );
  add(
    "contention_lost",
    `contention: writes lost (of ${oc.acknowledged} vs ${pcn.acknowledged} acknowledged)`,
    oc.lost,
    pcn.lost,
    "0",
    oc.lost === 0 && oc.errors === 0,
  );
  if (oc.cas) {
    add(
      "cas_conflict_rate",
      `contention: if_version conflict rate (conflicts/attempts)`,
      oc.cas.conflict_rate,
      "n/a (no CAS)",
    );
    add(
      "cas_counter_final",
      `contention: CAS counter final (expected ${oc.cas.expected})`,
      oc.cas.final,
      "n/a",
      `= ${oc.cas.expected}`,
      oc.cas.correct,
    );
  }
  add("idle_rss_mib", "idle RSS of one server process, MiB", o.idle_rss_mib, p.idle_rss_mib);
  add("ping_p50_ms", "diag: MCP ping round trip p50, ms", o.ping.p50, p.ping.p50);
  add(
    "server_cpu_per_write_ms",
    "diag: server CPU per write (write row), ms",
    o.server_cpu_ms_per_write,
    p.server_cpu_ms_per_write,
  );
  add(
    "server_cpu_per_read_ms",
    "diag: server CPU per read (read row), ms",
    o.server_cpu_ms_per_read,
    p.server_cpu_ms_per_read,
  );
  add(
    "contention_ping_ops_per_s",
    `diag: contention ceiling, ${oc.processes} processes answering pings, ops/s`,
    oc.ping_ops_per_s,
    pcn.ping_ops_per_s,
  );
  add(
    "contention_cpu_per_write_ms",
    "diag: contention, CPU per write, servers + bench client, ms",
    cpuPerWrite(oc),
    cpuPerWrite(pcn),
  );
  add("noop_p50_ms", "diag: tool call on an empty namespace p50, ms", o.noop.p50, p.noop.p50);
  return rows;
}

/** The rows only this server has: the peer's column is n/a. */
function coordinationRows(adapter: string, c: CoordinationResult): Row[] {
  const rows: Row[] = [];
  const add = (
    id: string,
    row: string,
    ours: number | null,
    target = "",
    met: boolean | null = null,
  ) =>
    rows.push({
      adapter,
      id,
      row: `[${adapter}] ${row}`,
      ours,
      peer: "n/a",
      ratio: null,
      target,
      met,
    });
  const perTool = c.tools === 0 ? null : round(c.tools_list_bytes / c.tools, 0);
  add("tools_list_bytes", `tools/list, bytes (${c.tools} tools)`, c.tools_list_bytes);
  add(
    "tools_list_bytes_per_tool",
    "tools/list, bytes per tool",
    perTool,
    "≤ 1,600",
    perTool !== null && perTool <= 1600,
  );
  const sizes = Object.keys(c.claim).map(Number).sort((x, y) => x - y);
  const smallest = sizes[0], largest = sizes.at(-1)!;
  for (const n of sizes) {
    const isTarget = n === largest && n !== smallest;
    add(
      `claim_p50_ms_${n}`,
      `claim_task (next ready) p50 with ${n.toLocaleString("en-US")} tasks, ms`,
      c.claim[String(n)].p50,
      isTarget ? `≤ 2× the ${smallest.toLocaleString("en-US")}-task p50` : "",
      isTarget ? c.claim[String(n)].p50 <= 2 * c.claim[String(smallest)].p50 : null,
    );
  }
  for (const n of sizes) {
    add(
      `list_ready_p50_ms_${n}`,
      `list_tasks (ready, 100) p50 with ${n.toLocaleString("en-US")} tasks, ms`,
      c.list_ready[String(n)].p50,
    );
  }
  add("backlog_seconds", "8 agents work a 40-task backlog, wall s", round(c.backlog_seconds, 2));
  add(
    "notify_p50_ms",
    "write in one process → resource notification in another, p50 ms",
    c.notify.p50,
    "≤ 1,000",
    c.notify.p50 <= 1000,
  );
  add("notify_p99_ms", "write → notification p99, ms", c.notify.p99);
  add(
    "idle_subscribed_cpu",
    "idle server with a subscription, CPU ms per s",
    c.idle_subscribed_cpu_ms_per_s,
  );
  add(
    "idle_eight_cpu",
    "8 idle servers on one project, CPU ms per s (all)",
    c.idle_eight_cpu_ms_per_s,
  );
  return rows;
}

function cpuPerWrite(c: SuiteResult["contention"]): number | null {
  return c.servers_cpu_ms === null || c.timed_writes === 0
    ? null
    : round((c.servers_cpu_ms + c.driver_cpu_ms) / c.timed_writes, 3);
}

function skippedRow(adapter: string, reason: string): Row {
  return {
    adapter,
    id: "skipped",
    row: `[${adapter}] skipped: ${reason}`,
    ours: null,
    peer: null,
    ratio: null,
    target: "",
    met: null,
  };
}

function renderRows(rows: Row[]): string {
  const cell = (v: number | string | null) => typeof v === "number" ? fmt(v) : v ?? "-";
  return renderTable(
    ["row", "ours", "peer", "ratio (ours/peer)", "target", "met?"],
    rows.map((r) => [
      r.row,
      cell(r.ours),
      cell(r.peer),
      r.ratio === null ? "-" : fmt(r.ratio),
      r.target || "-",
      r.met === null ? "-" : r.met ? "yes" : "NO",
    ]),
  );
}

function describeMachine(m: MachineInfo): string {
  return `Machine: ${m.cpu_model}, ${m.nproc} cores, ${m.memory_gib} GiB RAM, ${m.os} ` +
    `(Linux ${m.kernel}), ${
      m.filesystem ?? "unknown fs"
    }; deno ${m.deno}, node ${m.node}; ${m.date}`;
}

function describeNoise(noise: Record<string, OtherLoad | null>): string {
  const parts = Object.entries(noise).flatMap(([k, n]) =>
    n ? [`${k} ${Math.round(n.foreign_cpu_share * 100)}%`] : []
  );
  return parts.length === 0
    ? "Other work on the machine: unknown."
    : `Other work on the machine while each part ran (share of all cores): ${parts.join(", ")}.`;
}

/** Waits (up to `seconds`) for a 3-second window in which the machine is at most 15% busy. */
async function waitQuiet(seconds: number, cores: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const a = await cpuSnapshot();
    await sleep(3000);
    const b = await cpuSnapshot();
    if (!a || !b) return;
    const busy = (b.machineBusyMs - a.machineBusyMs) / ((b.at - a.at) * cores);
    if (busy <= 0.15) return log(`machine is quiet (${Math.round(busy * 100)}% busy); starting`);
    if (Date.now() > deadline) {
      return log(
        `machine still ${Math.round(busy * 100)}% busy after ${seconds} s; starting anyway`,
      );
    }
    log(`machine ${Math.round(busy * 100)}% busy with other work; waiting…`);
  }
}

const README_START = "<!-- bench:table:start -->";
const README_END = "<!-- bench:table:end -->";

/** Replaces the table between the markers in bench/README.md. */
async function updateReadme(m: MachineInfo, peer: PeerInstall, table: string): Promise<void> {
  const block = [
    README_START,
    "",
    `${describeMachine(m)}. Peer: ${peer.package}@${peer.version}.`,
    "",
    table,
    "",
    README_END,
  ].join("\n");
  // bench/README.md always; the project README too once it carries the markers.
  for (const file of [join(REPO_ROOT, "bench", "README.md"), join(REPO_ROOT, "README.md")]) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch {
      continue;
    }
    const a = text.indexOf(README_START), b = text.indexOf(README_END);
    if (a < 0 || b < a) continue;
    await Deno.writeTextFile(file, text.slice(0, a) + block + text.slice(b + README_END.length));
    await denoFmt(file);
    log(`updated the table in ${file}`);
  }
}

/** Formats a file the bench wrote with `deno fmt`, so `deno fmt --check` stays green. */
async function denoFmt(file: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", file],
    cwd: REPO_ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) log(`deno fmt ${file} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    Deno.exit(1);
  }
}
