/**
 * Fault injection with real processes: in each of 20 rounds four real server
 * processes (`main.ts` over stdio) write concurrently to shared and own
 * scopes (plain stores and compare-and-set increments), and one of them is
 * killed with SIGKILL at a random moment, mostly while a write is in flight.
 * After each round:
 *
 * - every write the test saw acknowledged (a success result arrived) is on
 *   disk with its exact value, and the servers see it too;
 * - every state file parses and is a valid scope file (no torn file); the
 *   only leftovers are the killed process's own dot-prefixed temp files,
 *   which no listing mistakes for state;
 * - no lock is left held: the three survivors keep acknowledging writes after
 *   the kill, and a fresh process writes to every scope within a deadline;
 * - the killed session's lease was neither renewed nor released: claiming its
 *   instance by name answers INSTANCE_TAKEN (naming the dead pid) before the
 *   lease expires, and succeeds ("claimed") after it.
 *
 * Lease waits: the config sets session.lease_ttl_seconds to 5 (the minimum).
 * Waiting for every expiry in turn would add up to 20 × 5 s, so each round
 * uses its own project (own repo and state dir) and hands its reclaim check
 * to a background task that keeps that round's verifier process alive until
 * the recorded expiry has passed; the next rounds run meanwhile, so the
 * waits overlap and every round's instance really is reclaimed. The
 * INSTANCE_TAKEN half runs right after the kill; the test computes from the
 * lease record whether the expiry could already have passed and then expects
 * the other outcome, so it cannot flake on a slow machine (and it asserts
 * that the INSTANCE_TAKEN path was exercised at least once).
 *
 * Seeded: FAULT_SEED=<n> replays the same kill delays, victims and values;
 * process timing still varies, so a replay is close but not identical.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Scope } from "../src/core/scope.ts";
import {
  fileNameToScope,
  isHashedFileName,
  LOG_FILE_SUFFIX,
  scopeToFileName,
} from "../src/storage/file/names.ts";
import { readLeases, release, signOff, signOn, startHeartbeat } from "../src/core/session/mod.ts";
import type { StorageAdapter } from "../src/storage/contract.ts";
import { makeContext } from "./_inprocess.ts";
import {
  createRng,
  makeProject,
  okResult,
  resultCode,
  resultText,
  type Rng,
  seedFrom,
  type ServerProcess,
  sleep,
  spawnServer,
  type TempProject,
} from "./_fault_stdio.ts";

const ROUNDS = 20;
const WRITERS = 4;
const LEASE_TTL_SECONDS = 5;
const MACHINE = "faultbox";
/** A call that takes longer than this counts as a hang (a lock left held). */
const CALL_TIMEOUT_MS = 15_000;
/** Each survivor must acknowledge this many writes after the kill. */
const WRITES_AFTER_KILL = 3;

const SEED = seedFrom("FAULT_SEED");

/** One acknowledged write. */
interface Ack {
  scope: string;
  key: string;
  value: unknown;
}

/** One writer: a server process and the loop that drives it. */
interface Writer {
  server: ServerProcess;
  sessionId: string;
  acked: Ack[];
  /** Acknowledged compare-and-set increments of @project:counter. */
  increments: number;
  /** Writes acknowledged after the kill. */
  ackedAfterKill: number;
  stop: boolean;
  loop: Promise<void>;
  /** What ended the loop, if not `stop`. */
  failure: unknown;
}

// ---------------------------------------------------------------------------
// A heartbeat renewal in flight while the session lets go of its lease. The
// fault injected is slowness at two points of a renewal (before its storage
// write, and after it); the real
// context, adapter and heartbeat do the rest. Found by the process rounds
// below: a server closed gracefully kept its instance until the lease
// expired, because the heartbeat re-created the lease after the release.

/** Holds the first caller that passes `when` until `open` is called. */
function oneShotGate() {
  const entered = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  let armed = false;
  return {
    arm: () => armed = true,
    entered: entered.promise,
    open: () => gate.resolve(),
    async pass(): Promise<void> {
      if (!armed) return;
      armed = false;
      entered.resolve();
      await gate.promise;
    },
  };
}

/**
 * Awaits `promise`, failing after `ms`. Its timer also keeps the event loop
 * alive while only the (unref'd) heartbeat timer is pending.
 */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A context whose lease writes can be held at a gate, before or after they reach the storage. */
async function racingContext() {
  const h = await makeContext({ leaseTtlSeconds: 1 }); // heartbeat every 333 ms
  const beforeWrite = oneShotGate();
  const afterWrite = oneShotGate();
  const real = h.ctx.storage;
  const storage: StorageAdapter = {
    ...real,
    now: () => real.now(),
    async store(scope, key, value, options) {
      const lease = scope.includes(":instances");
      if (lease) await beforeWrite.pass();
      const result = await real.store(scope, key, value, options);
      if (lease) await afterWrite.pass();
      return result;
    },
  };
  h.ctx.storage = storage;
  return { h, beforeWrite, afterWrite };
}

for (
  const [when, action] of [
    ["before", "sign_off"],
    ["after", "sign_off"],
    ["before", "release"],
    ["after", "release"],
    ["before", "switch"],
    ["after", "switch"],
  ] as const
) {
  Deno.test(`a heartbeat renewal held ${when} its write does not undo a ${action}`, async () => {
    const { h, beforeWrite, afterWrite } = await racingContext();
    const binding = h.binding();
    const errors: unknown[] = [];
    let stop = () => Promise.resolve();
    try {
      await signOn(h.ctx, binding);
      const gate = when === "before" ? beforeWrite : afterWrite;
      gate.arm();
      stop = startHeartbeat(h.ctx, binding, (err) => errors.push(err));
      await within(gate.entered, 5_000, "a heartbeat renewal"); // now in flight
      if (action === "sign_off") await signOff(h.ctx, binding, { summary: "done" });
      else if (action === "release") await release(h.ctx, binding);
      else await signOn(h.ctx, binding, { sessionId: "other" });
      gate.open();
      await stop();
      // stop() waits for the renewal in flight; the pause only lets a heartbeat
      // that could not be waited for (the bug) finish, so that this test sees it.
      await sleep(250);
      const leases = [...(await readLeases(h.ctx)).keys()];
      if (action === "switch") {
        assert.deepEqual(leases, ["other"], "only the instance switched to is held");
        assert.equal(binding.held?.sessionId, "other");
      } else {
        assert.deepEqual(leases, [], `claude_1 is free after ${action}`);
        assert.equal(binding.held, null, "the binding stays signed off");
      }
      assert.deepEqual(errors, [], "letting go of a lease is no heartbeat failure");
    } finally {
      await stop();
      await h.close();
    }
  });
}

/** Everything spawned, so a failure anywhere still stops every process. */
const spawned: ServerProcess[] = [];

function spawn(project: TempProject): ServerProcess {
  const server = spawnServer({ cwd: project.repo, configPath: project.configPath });
  spawned.push(server);
  return server;
}

function tag(round: number): string {
  return `[FAULT_SEED=${SEED} round ${round}]`;
}

/** The full scope a relative one names, for this test's machine and `project`. */
function fullScope(project: string, relative: string): Scope {
  return (relative.startsWith("@project:")
    ? `@project:${project}:${relative.slice("@project:".length)}`
    : `${MACHINE}:${project}:${relative}`) as Scope;
}

/**
 * Reads a scope's log (format 2) on its own, without the adapter: the header,
 * then set/del records in order. Bytes after the last newline are a write
 * that was cut off, never acknowledged, and are ignored, as the adapter does.
 */
async function readScopeFile(stateDir: string, scope: Scope) {
  const text = await Deno.readTextFile(join(stateDir, scopeToFileName(scope, LOG_FILE_SUFFIX)));
  const lines = text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter((l) => l !== "");
  const header = JSON.parse(lines[0]) as { format: number; scope: string };
  assert.equal(header.format, 2);
  assert.equal(header.scope, scope);
  const data: Record<string, unknown> = {};
  const keys: Record<string, { expires_at: string | null }> = {};
  for (const line of lines.slice(1)) {
    const r = JSON.parse(line) as {
      op: "set" | "del";
      key: string;
      value?: unknown;
      expires_at?: string | null;
    };
    if (r.op === "set") {
      data[r.key] = r.value;
      keys[r.key] = { expires_at: r.expires_at ?? null };
    } else {
      delete data[r.key];
      delete keys[r.key];
    }
  }
  return { scope: header.scope, data, metadata: { keys } };
}

async function writeLoop(w: Writer, rng: Rng, killed: () => boolean): Promise<void> {
  for (let n = 1; !w.stop; n++) {
    const pick = rng.next();
    const value = { by: w.sessionId, n, pad: "x".repeat(rng.int(0, 24_000)) };
    if (pick < 0.2) {
      // Compare-and-set increment; a conflict is retried by the next turn.
      const read = await w.server.callTool(
        "retrieve_data",
        { scope: "@project:counter", key: "c" },
        CALL_TIMEOUT_MS,
      );
      const current = okResult(read, "retrieve counter");
      const res = await w.server.callTool("store_data", {
        scope: "@project:counter",
        key: "c",
        value: ((current.value as number | null) ?? 0) + 1,
        if_version: current.version,
      }, CALL_TIMEOUT_MS);
      if (resultCode(res) === "VERSION_CONFLICT") continue;
      okResult(res, "increment counter");
      w.increments++;
    } else {
      const own = pick < 0.6;
      const scope = own ? `session:${w.sessionId}` : "@project:shared";
      const key = own ? `k${n}` : `${w.sessionId}-${n}`;
      const res = await w.server.callTool("store_data", { scope, key, value }, CALL_TIMEOUT_MS);
      okResult(res, `store ${scope} ${key}`);
      w.acked.push({ scope, key, value });
    }
    if (killed()) w.ackedAfterKill++;
  }
}

/** Checks the state directory: only whole scope files, lock files and the victim's temp files. */
async function checkStateDir(stateDir: string, victimPid: number): Promise<number> {
  let strayTemps = 0;
  for await (const entry of Deno.readDir(stateDir)) {
    const name = entry.name;
    if (name === ".locks") {
      assert.ok(entry.isDirectory, ".locks is a directory");
      for await (const lock of Deno.readDir(join(stateDir, name))) {
        assert.ok(lock.isFile && lock.name.endsWith(".json.lock"), `lock file ${lock.name}`);
      }
      continue;
    }
    assert.ok(entry.isFile, `${name} is a file`);
    if (name.startsWith(".")) {
      // A temp file of a write the kill interrupted: only the victim may leave one.
      const m = /^\..+\.jsonl?\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
      assert.ok(m, `unexpected dot-file ${name}`);
      assert.equal(Number(m[1]), victimPid, `temp file ${name} belongs to the killed process`);
      assert.equal(fileNameToScope(name, LOG_FILE_SUFFIX), null, `${name} is never a scope`);
      strayTemps++;
      continue;
    }
    const scope = fileNameToScope(name, LOG_FILE_SUFFIX);
    assert.ok(
      scope !== null || isHashedFileName(name, LOG_FILE_SUFFIX),
      `${name} is a scope log name`,
    );
    // Every complete line parses: a torn write can only be an unterminated tail.
    const text = await Deno.readTextFile(join(stateDir, name));
    const lines = text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter((l) => l !== "");
    let header: { format?: unknown; scope?: unknown } = {};
    for (const [i, line] of lines.entries()) {
      try {
        const parsed = JSON.parse(line);
        if (i === 0) header = parsed;
      } catch (err) {
        throw new Error(`${name} line ${i + 1} is torn: ${(err as Error).message}`);
      }
    }
    assert.equal(header.format, 2, `${name} has format 2`);
    if (scope !== null) assert.equal(header.scope, scope, `${name} holds its own scope`);
  }
  return strayTemps;
}

/** What a round leaves for the background reclaim check. */
interface PendingReclaim {
  verifier: ServerProcess;
  victimId: string;
  expiresMs: number;
  stateDir: string;
  instancesScope: Scope;
  /** The verifier itself signed off as the victim's instance (a slow machine): its empty handoff is there. */
  verifierHandoff: boolean;
}

/** The background half of a round: after the lease expiry, the instance is claimable by name. */
async function reclaimAfterExpiry(p: PendingReclaim): Promise<void> {
  await sleep(Math.max(0, p.expiresMs - Date.now() + 150));
  const res = await p.verifier.callTool("sign_on", { session_id: p.victimId }, CALL_TIMEOUT_MS);
  const body = okResult(res, `reclaim ${p.victimId} after its lease expired`);
  assert.equal(body.session_id, p.victimId);
  assert.equal(body.claim, "claimed");
  if (p.verifierHandoff) {
    // Only the verifier's own empty sign-off from the round is there, nothing of the victim's.
    assert.equal((body.handoff as { summary: unknown } | null)?.summary, null, "no victim handoff");
  } else {
    assert.equal(body.handoff, null, "the killed session left no handoff");
  }
  const lease = (await readScopeFile(p.stateDir, p.instancesScope)).data[p.victimId] as {
    pid: number;
  };
  assert.equal(lease.pid, p.verifier.pid, "the lease now names the reclaiming process");
  // sign_off writes @project:handoffs, the one scope store_data may not touch.
  okResult(
    await p.verifier.callTool("sign_off", { summary: "reclaimed" }, CALL_TIMEOUT_MS),
    "sign_off",
  );
  const status = await p.verifier.close();
  assert.equal(status.code, 0, `verifier exits cleanly: ${p.verifier.stderr()}`);
}

interface RoundReport {
  acked: number;
  afterKill: number;
  strayTemps: number;
  takenChecked: boolean;
  pending: PendingReclaim;
}

/** A round's processes, started and initialized (while the previous round runs). */
interface PreparedRound {
  round: number;
  project: TempProject;
  writers: ServerProcess[];
  verifier: ServerProcess;
}

async function prepareRound(root: string, round: number): Promise<PreparedRound> {
  const project = await makeProject(root, `round${round}`, {
    lease_ttl_seconds: LEASE_TTL_SECONDS,
    machine_id: MACHINE,
  });
  // Four writers plus the verifier, which starts now so that its start-up
  // does not eat into the victim's remaining lease.
  const servers = Array.from({ length: WRITERS + 1 }, () => spawn(project));
  await Promise.all(servers.map((s) => s.initialize()));
  const verifier = servers.pop()!;
  return { round, project, writers: servers, verifier };
}

async function runRound(prepared: PreparedRound): Promise<RoundReport> {
  const { round, project, verifier, writers: servers } = prepared;
  const rng = createRng((SEED ^ Math.imul(round + 1, 0x9e3779b1)) >>> 0);
  // Four sign_on calls at once race for the lowest instances (compare-and-set).
  const signOns = await Promise.all(servers.map((s) => s.callTool("sign_on", {})));
  const bodies = signOns.map((res) => okResult(res, "writer sign_on"));
  const projectId = bodies[0].project as string;
  const ids = bodies.map((b) => b.session_id as string);
  assert.equal(new Set(ids).size, WRITERS, `writers hold distinct instances: ${ids}`);

  let killAt = 0;
  const writers: Writer[] = servers.map((server, i) => {
    const w: Writer = {
      server,
      sessionId: ids[i],
      acked: [],
      increments: 0,
      ackedAfterKill: 0,
      stop: false,
      loop: Promise.resolve(),
      failure: undefined,
    };
    const wrng = createRng((SEED ^ Math.imul(round * 8 + i + 1, 0x85ebca6b)) >>> 0);
    w.loop = writeLoop(w, wrng, () => killAt > 0).catch((err) => {
      w.failure = err;
    });
    return w;
  });
  const victimIndex = rng.int(0, WRITERS - 1);
  const victim = writers[victimIndex];
  const survivors = writers.filter((w) => w !== victim);

  await sleep(rng.int(20, 800));
  victim.server.child.kill("SIGKILL");
  killAt = Date.now();
  const victimStatus = await victim.server.status;
  assert.equal(victimStatus.signal, "SIGKILL");
  await victim.loop;

  // No lock held, part 1: every survivor keeps getting writes acknowledged.
  const deadline = Date.now() + CALL_TIMEOUT_MS;
  while (survivors.some((w) => w.ackedAfterKill < WRITES_AFTER_KILL && w.failure === undefined)) {
    assert.ok(Date.now() < deadline, "survivors stopped making progress after the kill");
    await sleep(10);
  }
  for (const w of survivors) w.stop = true;
  await Promise.all(survivors.map((w) => w.loop));
  for (const w of survivors) {
    if (w.failure !== undefined) {
      throw new Error(`survivor ${w.sessionId} failed: ${(w.failure as Error).message}`);
    }
  }
  const closed = await Promise.all(survivors.map((w) => w.server.close()));
  for (const [i, status] of closed.entries()) {
    assert.equal(status.code, 0, `survivor exits cleanly: ${survivors[i].server.stderr()}`);
  }

  // The dead session's lease: still there, its pid, never renewed after the kill.
  const instancesScope = fullScope(projectId, "@project:instances");
  const instances = await readScopeFile(project.stateDir, instancesScope);
  assert.deepEqual(
    Object.keys(instances.data),
    [victim.sessionId],
    "survivors released their instances on exit; the victim could not",
  );
  const lease = instances.data[victim.sessionId] as { pid: number; last_seen: string };
  assert.equal(lease.pid, victim.server.pid);
  assert.ok(Date.parse(lease.last_seen) <= killAt, "no renewal after the kill");
  const expiresMs = Date.parse(instances.metadata.keys[victim.sessionId].expires_at ?? "");
  assert.ok(
    expiresMs <= killAt + LEASE_TTL_SECONDS * 1000,
    `lease expiry ${
      new Date(expiresMs).toISOString()
    } is at most ${LEASE_TTL_SECONDS}s after the kill`,
  );

  // Before expiry the instance is taken; the message names the dead holder.
  // Judged by the clock, without margins: answered before the expiry means
  // the server looked before it, sent after it means the server looked after.
  const sentAt = Date.now();
  const early = await verifier.callTool("sign_on", { session_id: victim.sessionId });
  const answeredAt = Date.now();
  let takenChecked = false;
  if (answeredAt < expiresMs) {
    assert.equal(resultCode(early), "INSTANCE_TAKEN", resultText(early));
    assert.match(resultText(early), new RegExp(`pid ${victim.server.pid}\\b`));
    takenChecked = true;
  } else if (sentAt > expiresMs) {
    okResult(early, "claim after expiry");
  }
  const verifierHandoff = !early.result?.isError;
  if (verifierHandoff) {
    // The lease had already expired (a very slow machine): release it again
    // so the background check claims it from scratch.
    okResult(await verifier.callTool("sign_off", {}), "sign_off");
  }

  // No lock held, part 2: a fresh process writes to every scope in time.
  // Not the victim's instance, which a slow machine may have freed by now.
  okResult(await verifier.callTool("sign_on", { session_id: "verifier" }), "verifier sign_on");
  const listed = okResult(await verifier.callTool("list_scopes", {}), "list_scopes")
    .scopes as string[];
  for (const w of writers) {
    if (w.acked.some((a) => a.scope.startsWith("session:"))) {
      assert.ok(listed.includes(`session:${w.sessionId}`), `session:${w.sessionId} is listed`);
    }
  }
  const probeDeadline = Date.now() + 10_000;
  for (const scope of listed) {
    // Scopes the server manages itself (leases, handoffs, the audit log, the board).
    const reserved = ["instances", "handoffs", "audit", "tasks", "messages", "reservations"];
    if (reserved.some((r) => scope === `@project:${r}`)) continue;
    const res = await verifier.callTool(
      "store_data",
      { scope, key: `probe-${round}`, value: true },
      Math.max(1, probeDeadline - Date.now()),
    );
    okResult(res, `fresh process writes ${scope}`);
  }

  // Every acknowledged write is on disk with its exact value...
  const docs = new Map<string, Awaited<ReturnType<typeof readScopeFile>>>();
  let acked = 0;
  for (const w of writers) {
    for (const a of w.acked) {
      if (!docs.has(a.scope)) {
        docs.set(a.scope, await readScopeFile(project.stateDir, fullScope(projectId, a.scope)));
      }
      assert.deepEqual(
        docs.get(a.scope)!.data[a.key],
        a.value,
        `acknowledged ${a.scope} ${a.key} (by ${w.sessionId}) is on disk`,
      );
      acked++;
    }
  }
  // ...and the server sees it: list_keys of the shared scope, and a sample read back.
  const sharedKeys = new Set(
    okResult(await verifier.callTool("list_keys", { scope: "@project:shared" }), "list_keys")
      .keys as string[],
  );
  const allAcked = writers.flatMap((w) => w.acked);
  for (const a of allAcked) {
    if (a.scope === "@project:shared") assert.ok(sharedKeys.has(a.key), `${a.key} is listed`);
  }
  for (let i = 0; i < 5 && allAcked.length > 0; i++) {
    const a = rng.pick(allAcked);
    const got = okResult(await verifier.callTool("retrieve_data", { scope: a.scope, key: a.key }));
    assert.deepEqual(got.value, a.value, `retrieve ${a.scope} ${a.key}`);
  }
  // Compare-and-set increments: none lost, at most the victim's unacknowledged one extra.
  const increments = writers.reduce((sum, w) => sum + w.increments, 0);
  const counter = okResult(
    await verifier.callTool("retrieve_data", { scope: "@project:counter", key: "c" }),
  );
  const count = (counter.value as number | null) ?? 0;
  assert.ok(
    count >= increments && count <= increments + 1,
    `counter ${count} vs ${increments} acknowledged increments`,
  );

  // No torn file, no stray state.
  const strayTemps = await checkStateDir(project.stateDir, victim.server.pid);

  return {
    acked,
    afterKill: survivors.reduce((sum, w) => sum + w.ackedAfterKill, 0),
    strayTemps,
    takenChecked,
    pending: {
      verifier,
      victimId: victim.sessionId,
      expiresMs,
      stateDir: project.stateDir,
      instancesScope,
      verifierHandoff,
    },
  };
}

Deno.test(`fault injection: ${ROUNDS} rounds of ${WRITERS} writer processes, one SIGKILLed`, async () => {
  console.log(
    `FAULT_SEED=${SEED} (replay: FAULT_SEED=${SEED} deno test -A ${import.meta.filename})`,
  );
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "csc_fault_" }));
  const reclaims: Array<Promise<unknown>> = [];
  const started = Date.now();
  let next: Promise<PreparedRound> | undefined;
  try {
    let takenChecks = 0, acked = 0, strays = 0;
    // Process start-up dominates a round, so the next round's processes
    // start while this one runs (a rejection is read when it is awaited).
    const prepare = (round: number) => {
      const p = prepareRound(root, round);
      p.catch(() => {});
      return p;
    };
    next = prepare(0);
    for (let round = 0; round < ROUNDS; round++) {
      let report: RoundReport;
      try {
        const prepared = await next;
        if (round + 1 < ROUNDS) next = prepare(round + 1);
        report = await runRound(prepared);
      } catch (err) {
        throw new Error(`${tag(round)} ${(err as Error).message}`, { cause: err });
      }
      takenChecks += report.takenChecked ? 1 : 0;
      acked += report.acked;
      strays += report.strayTemps;
      // Settled into a value at once, so a failure is never an unhandled rejection.
      reclaims.push(
        reclaimAfterExpiry(report.pending).then(
          () => null,
          (err) => new Error(`${tag(round)} reclaim: ${(err as Error).message}`, { cause: err }),
        ),
      );
      console.log(
        `  round ${round}: ${report.acked} acknowledged writes all present, ` +
          `${report.afterKill} by survivors after the kill, ${report.strayTemps} stray temp file(s)`,
      );
    }
    for (const outcome of await Promise.all(reclaims)) {
      if (outcome instanceof Error) throw outcome;
    }
    assert.ok(takenChecks > 0, `[FAULT_SEED=${SEED}] INSTANCE_TAKEN was never checked in time`);
    console.log(
      `  ${ROUNDS} rounds, ${acked} acknowledged writes, ${strays} stray temp files, ` +
        `INSTANCE_TAKEN checked in ${takenChecks} rounds, reclaimed in all; ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    // A round still starting up may spawn more processes: wait for it first.
    await next?.catch(() => {});
    await Promise.all(spawned.map((s) => s.kill()));
    await Promise.allSettled(reclaims);
    await Deno.remove(root, { recursive: true });
  }
});
