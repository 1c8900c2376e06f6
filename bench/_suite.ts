/**
 * The workload, run identically on every subject (our server per adapter row,
 * and the peer): cold start, idle RSS, latencies, growth and contention.
 */
import process from "node:process";
import { childPids, rssMiB } from "./_mcp.ts";
import { latency, median, round } from "./_stats.ts";
import { cpuSnapshot, sleep } from "./_setup.ts";
import type { Session, Subject } from "./_subjects.ts";

/** Sizes of the phases; the defaults are what the issue asks for. */
export interface SuiteParams {
  coldStarts: number;
  warmup: number;
  calls: number;
  diagCalls: number;
  growthSizes: number[];
  growthCalls: number;
  processes: number;
  writesPerProcess: number;
  casPerProcess: number;
  idleWaitMs: number;
}

/** The defaults: cold start ×5, 500 calls, growth at 10/1,000/10,000 keys, 8 × 100 writes. */
export const DEFAULT_PARAMS: SuiteParams = {
  coldStarts: 5,
  warmup: 20,
  calls: 500,
  diagCalls: 200,
  growthSizes: [10, 1000, 10000],
  growthCalls: 200,
  processes: 8,
  writesPerProcess: 100,
  casPerProcess: 25,
  idleWaitMs: 1000,
};

type Latency = ReturnType<typeof latency>;

/** Everything measured for one subject. */
export interface SuiteResult {
  cold_start_ms: { median: number; samples: number[]; warmup_ms: number };
  idle_rss_mib: number | null;
  /** Children of the measured server process when RSS was read (expected: none). */
  idle_child_pids: number[];
  /** CPU time of the server process per write and per read in the write and read rows (10 ms ticks). */
  server_cpu_ms_per_write: number | null;
  server_cpu_ms_per_read: number | null;
  ping: Latency;
  noop: Latency;
  write: Latency;
  read: Latency;
  growth: Record<string, Latency>;
  contention: ContentionResult;
  seconds: number;
}

/** The 8-process phase. */
export interface ContentionResult {
  processes: number;
  /** Every write tried, the untimed warm-up ones included. */
  attempted: number;
  /** Writes acknowledged in the timed part (ops_per_s counts these). */
  timed_writes: number;
  acknowledged: number;
  errors: number;
  first_error: string | null;
  present: number;
  lost: number;
  seconds: number;
  ops_per_s: number;
  /** CPU time of the bench process itself during the timed part (client side of all 8). */
  driver_cpu_ms: number;
  /** CPU time of the 8 server processes during the timed part, from /proc. */
  servers_cpu_ms: number | null;
  cas: CasResult | null;
  /** The same processes answering as many pings, all at once: what stdio + JSON-RPC alone allow. */
  ping_ops_per_s: number;
}

/** The compare-and-set counter phase (subjects with if_version only). */
export interface CasResult {
  increments: number;
  attempts: number;
  conflicts: number;
  conflict_rate: number;
  final: number;
  expected: number;
  correct: boolean;
  seconds: number;
  increments_per_s: number;
}

/** How busy the machine was with work other than the bench while a subject was measured. */
export interface OtherLoad {
  /** CPU time not spent by the bench or its servers, as a share of all cores. */
  foreign_cpu_share: number;
  measured_seconds: number;
}

/**
 * Runs the workload on every subject, phase by phase, taking the subjects in
 * turn within each phase (cold starts even spawn by spawn), so that noise
 * from other work on the machine falls on all of them alike.
 */
export async function runSuites(
  subjects: Subject[],
  p: SuiteParams,
  log: (line: string) => void,
): Promise<Map<string, SuiteResult & { other_load: OtherLoad | null }>> {
  const cores = navigator.hardwareConcurrency || 1;
  const acc = new Map<string, { wall: number; foreign: number; known: boolean }>();
  /** Runs one phase of one subject, charging the machine's other work to it. */
  const phase = async <T>(subject: Subject, what: string, fn: () => Promise<T>): Promise<T> => {
    if (what) log(`[${subject.label}] ${what}`);
    const a = await cpuSnapshot();
    const result = await fn();
    const b = await cpuSnapshot();
    const slot = acc.get(subject.label) ?? { wall: 0, foreign: 0, known: true };
    if (a && b) {
      slot.wall += b.at - a.at;
      slot.foreign += Math.max(
        0,
        (b.machineBusyMs - a.machineBusyMs) - (b.selfAndChildrenMs - a.selfAndChildrenMs),
      );
    } else slot.known = false;
    acc.set(subject.label, slot);
    return result;
  };

  const partial = new Map<string, Partial<SuiteResult>>();
  const began = new Map<string, number>();
  for (const s of subjects) {
    partial.set(s.label, { growth: {} });
    began.set(s.label, 0);
  }
  const timeOf = async <T>(s: Subject, what: string, fn: () => Promise<T>) => {
    const t0 = performance.now();
    const r = await phase(s, what, fn);
    began.set(s.label, began.get(s.label)! + performance.now() - t0);
    return r;
  };

  log(`cold start ×${p.coldStarts} (+1 warm-up) of ${subjects.map((s) => s.label).join(", ")}`);
  const cold = new Map<string, number[]>(subjects.map((s) => [s.label, []]));
  const warm = new Map<string, number>();
  for (let i = 0; i <= p.coldStarts; i++) {
    for (const s of subjects) {
      await timeOf(s, "", async () => {
        const conn = await s.spawn();
        if (i === 0) warm.set(s.label, conn.startMs);
        else cold.get(s.label)!.push(conn.startMs);
        await conn.close();
      });
    }
  }
  for (const s of subjects) {
    const samples = cold.get(s.label)!;
    partial.get(s.label)!.cold_start_ms = {
      median: round(median(samples)),
      samples: samples.map((x) => round(x)),
      warmup_ms: round(warm.get(s.label)!),
    };
  }

  for (const s of subjects) {
    await timeOf(s, "idle RSS, ping, no-data call, writes, reads", async () => {
      Object.assign(partial.get(s.label)!, await mainPhase(s, p));
    });
  }

  for (const n of p.growthSizes) {
    for (const s of subjects) {
      await timeOf(
        s,
        `growth: prefill ${n}, then ${p.growthCalls} writes (each record deleted again, untimed)`,
        async () => {
          partial.get(s.label)!.growth![String(n)] = await growthPhase(s, p, n);
        },
      );
    }
  }

  for (const s of subjects) {
    await timeOf(
      s,
      `contention: ${p.processes} processes × ${p.writesPerProcess} writes into one namespace`,
      async () => {
        partial.get(s.label)!.contention = await runContention(s, p);
      },
    );
  }

  const out = new Map<string, SuiteResult & { other_load: OtherLoad | null }>();
  for (const s of subjects) {
    const a = acc.get(s.label)!;
    const result = partial.get(s.label)! as SuiteResult;
    result.seconds = round(began.get(s.label)! / 1000, 1);
    out.set(s.label, {
      ...result,
      other_load: a.known && a.wall > 0
        ? {
          foreign_cpu_share: round(a.foreign / (a.wall * cores), 3),
          measured_seconds: round(a.wall / 1000, 1),
        }
        : null,
    });
  }
  return out;
}

async function mainPhase(subject: Subject, p: SuiteParams) {
  const main = await subject.open("main");
  try {
    await sleep(p.idleWaitMs);
    const idleRss = await rssMiB(main.conn.pid);
    const idleChildren = await childPids(main.conn.pid);
    const ping = latency(await sample(p.warmup, p.diagCalls, () => main.conn.ping()));
    const noop = latency(await sample(p.warmup, p.diagCalls, () => main.noop()));
    // Warm-up records land in the same namespace, so both sides end with warmup + calls records.
    const warmKeys = Array.from({ length: p.warmup }, (_, i) => `warm${i}`);
    const keys = Array.from({ length: p.calls }, (_, i) => `k${i}`);
    const c0 = await serversCpuMs([main]);
    const write = latency(await each(warmKeys, keys, (k) => main.write(k)));
    const c1 = await serversCpuMs([main]);
    const read = latency(await each(warmKeys, shuffle(keys), (k) => main.read(k)));
    const c2 = await serversCpuMs([main]);
    const perCall = (a: number | null, b: number | null) =>
      a === null || b === null ? null : round((b - a) / (warmKeys.length + keys.length), 3);
    return {
      server_cpu_ms_per_write: perCall(c0, c1),
      server_cpu_ms_per_read: perCall(c1, c2),
      idle_rss_mib: idleRss === null ? null : round(idleRss, 1),
      idle_child_pids: idleChildren,
      ping,
      noop,
      write,
      read,
    };
  } finally {
    await main.close();
  }
}

async function growthPhase(subject: Subject, p: SuiteParams, n: number): Promise<Latency> {
  const s = await subject.open(`growth${n}`);
  try {
    await s.prefill(n);
    const samples: number[] = [];
    for (let i = -Math.min(p.warmup, 10); i < p.growthCalls; i++) {
      const key = `new${i + 10}`;
      const t0 = performance.now();
      await s.write(key);
      const ms = performance.now() - t0;
      if (i >= 0) samples.push(ms);
      await s.remove(key);
    }
    return latency(samples);
  } finally {
    await s.close();
  }
}

async function runContention(subject: Subject, p: SuiteParams): Promise<ContentionResult> {
  const sessions = await openMany(subject, "contention", p.processes);
  try {
    // The ceiling of the stack itself: every process answers pings, no tool, no storage.
    const pingStart = performance.now();
    await Promise.all(sessions.map(async (s) => {
      for (let i = 0; i < p.writesPerProcess; i++) await s.conn.ping();
    }));
    const pingsPerS = (p.processes * p.writesPerProcess) / ((performance.now() - pingStart) / 1000);
    const acked = new Set<string>();
    let errors = 0;
    let firstError: string | null = null;
    /** Every process writes `count` distinct records as fast as it is answered. */
    const writeAll = (prefix: string, count: number) =>
      Promise.all(sessions.map(async (s, w) => {
        for (let i = 0; i < count; i++) {
          const key = `${prefix}${w}_${i}`;
          try {
            await s.write(key);
            acked.add(key);
          } catch (err) {
            errors++;
            firstError ??= (err as Error).message.slice(0, 300);
          }
        }
      }));
    // Warm-up writes, all at once too (untimed, but counted in the lost-write check):
    // a fresh process runs its first calls through V8's slower tiers.
    await writeAll("warm", p.warmup);
    const cpu0 = process.cpuUsage();
    const srv0 = await serversCpuMs(sessions);
    const t0 = performance.now();
    const before = acked.size;
    await writeAll("w", p.writesPerProcess);
    const timedAcked = acked.size - before;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const srv1 = await serversCpuMs(sessions);
    const present = await sessions[0].present();
    let kept = 0;
    for (const key of acked) if (present.has(key)) kept++;

    let cas: CasResult | null = null;
    const first = sessions[0];
    if (first.casIncrement && first.counter) {
      const counterKey = "counter";
      let attempts = 0, conflicts = 0;
      const c0 = performance.now();
      await Promise.all(sessions.map(async (s) => {
        for (let i = 0; i < p.casPerProcess; i++) {
          const r = await s.casIncrement!(counterKey);
          attempts += r.attempts;
          conflicts += r.conflicts;
        }
      }));
      const casSeconds = (performance.now() - c0) / 1000;
      const expected = p.processes * p.casPerProcess;
      const final = await first.counter(counterKey);
      cas = {
        increments: expected,
        attempts,
        conflicts,
        conflict_rate: round(conflicts / attempts, 4),
        final,
        expected,
        correct: final === expected,
        seconds: round(casSeconds, 3),
        increments_per_s: round(expected / casSeconds, 1),
      };
    }
    return {
      processes: p.processes,
      attempted: p.processes * (p.warmup + p.writesPerProcess),
      timed_writes: timedAcked,
      acknowledged: acked.size,
      errors,
      first_error: firstError,
      present: kept,
      lost: acked.size - kept,
      seconds: round(seconds, 3),
      ops_per_s: round(timedAcked / seconds, 1),
      driver_cpu_ms: round((cpu.user + cpu.system) / 1000, 1),
      servers_cpu_ms: srv0 === null || srv1 === null ? null : round(srv1 - srv0, 1),
      cas,
      ping_ops_per_s: round(pingsPerS, 1),
    };
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
  }
}

/** Opens `n` sessions at once; closes the ones that opened if any fails. */
async function openMany(subject: Subject, ns: string, n: number): Promise<Session[]> {
  const results = await Promise.allSettled(Array.from({ length: n }, () => subject.open(ns)));
  const opened = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
  if (failed) {
    await Promise.all(opened.map((s) => s.close()));
    throw failed.reason;
  }
  return opened;
}

/** Sum of user+system CPU of the sessions' server processes in ms (Linux /proc). */
async function serversCpuMs(sessions: Session[]): Promise<number | null> {
  let total = 0;
  for (const s of sessions) {
    try {
      const stat = await Deno.readTextFile(`/proc/${s.conn.pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // Fields 14 and 15 of stat (utime, stime), counted after the ")" of the name.
      total += (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ is 100 on Linux
    } catch {
      return null;
    }
  }
  return total;
}

/** Runs `fn` warmup times untimed, then `n` times timed; returns the timings in ms. */
async function sample(warmup: number, n: number, fn: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/** Runs `fn` on each warm-up item untimed, then on each item timed. */
async function each(
  warm: string[],
  items: string[],
  fn: (item: string) => Promise<void>,
): Promise<number[]> {
  for (const item of warm) await fn(item);
  const out: number[] = [];
  for (const item of items) {
    const t0 = performance.now();
    await fn(item);
    out.push(performance.now() - t0);
  }
  return out;
}

/** A deterministic shuffle (same order every run). */
function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  let seed = 42;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
