/**
 * The two things measured, behind one interface so that every phase runs the
 * very same workload on both:
 *
 * - ours: `deno run <start-task flags> main.ts --config <row config>`, signed
 *   on once per process; a namespace is a scope (relative, this machine's);
 * - the peer: `node …/server-memory/dist/index.js` with MEMORY_FILE_PATH; a
 *   namespace is a memory file, a record is an entity.
 *
 * A record is the same bytes on both sides: our value is `payload(key)`, the
 * peer's entity carries JSON.stringify(payload(key)) as its one observation.
 */
import { join, resolve } from "node:path";
import type { JsonValue } from "../src/core/json.ts";
import { type Scope, validateScope } from "../src/core/scope.ts";
import { scopeToFileName } from "../src/storage/file/names.ts";
import { builtinRegistry } from "../src/storage/builtin.ts";
import { DEFAULT_BASE_PATH } from "../src/storage/file/adapter.ts";
import { type Conn, connect, type ServerCommand } from "./_mcp.ts";
import { basePath, REPO_ROOT } from "./_setup.ts";

/** The value written per record: about 150 bytes of JSON, varying with the key. */
export function payload(key: string): { [k: string]: JsonValue } {
  return {
    status: "in_progress",
    issue: 42,
    branch: "feature/bench-coordination",
    note: `record ${key}: ` + "lorem ipsum dolor sit amet ".repeat(3).slice(0, 72),
  };
}

/** One process connected to one namespace of a subject's store. */
export interface Session {
  conn: Conn;
  write(key: string): Promise<void>;
  read(key: string): Promise<void>;
  remove(key: string): Promise<void>;
  /** A tool call that touches no stored record (the namespace is still empty). */
  noop(): Promise<void>;
  /** Fills the namespace with `n` records named pre0..pre{n-1} (not timed). */
  prefill(n: number): Promise<void>;
  /** Names of the records present in the namespace now. */
  present(): Promise<Set<string>>;
  /**
   * Adds 1 to a counter with compare-and-set until it succeeds; null when the
   * subject has no compare-and-set.
   */
  casIncrement?(key: string): Promise<{ attempts: number; conflicts: number }>;
  /** Reads the counter written by casIncrement. */
  counter?(key: string): Promise<number>;
  close(): Promise<void>;
}

/** Something the bench measures. */
export interface Subject {
  label: string;
  /** Spawns a process and completes initialize only (cold start). */
  spawn(): Promise<Conn>;
  /** Spawns a process ready to work on namespace `ns` (ours: signed on). */
  open(ns: string): Promise<Session>;
}

/** How an adapter row prefills a scope for the growth rows. */
export type PrefillMode = "adapter" | "local-file";

/** Options of our subject. */
export interface OursOptions {
  label: string;
  /** The row's whole config file (storage, session, limits). */
  config: Record<string, unknown>;
  configPath: string;
  repo: string;
  home: string;
  denoDir: string;
  flags: string[];
  prefill: PrefillMode;
}

/** How to start our server for one adapter row; `extra` goes after main.ts (e.g. --validate-config). */
export function oursCommand(
  o: Pick<OursOptions, "configPath" | "repo" | "home" | "denoDir" | "flags">,
  extra: string[] = [],
): ServerCommand {
  return {
    command: Deno.execPath(),
    args: [
      "run",
      ...o.flags,
      "--config",
      join(REPO_ROOT, "deno.json"),
      join(REPO_ROOT, "main.ts"),
      ...extra,
      "--config",
      o.configPath,
    ],
    cwd: o.repo,
    env: {
      HOME: o.home,
      PATH: basePath(),
      DENO_DIR: o.denoDir,
      DENO_NO_UPDATE_CHECK: "1",
      NO_COLOR: "1",
    },
  };
}

/** Our server with one adapter row's config. */
export function oursSubject(o: OursOptions): Subject {
  const command = oursCommand(o);
  const storage = o.config.storage as { adapter: string; config?: Record<string, unknown> };

  return {
    label: o.label,
    spawn: () => connect(command, "bench-cold"),
    async open(ns) {
      const conn = await connect(command);
      try {
        const signed = await conn.ok("sign_on", {});
        const fullScope = validateScope(`${signed.full_scope_prefix}${ns}`);
        return oursSession(conn, ns, fullScope, o, storage);
      } catch (err) {
        await conn.close();
        throw err;
      }
    },
  };
}

function oursSession(
  conn: Conn,
  scope: string,
  fullScope: Scope,
  o: OursOptions,
  storage: { adapter: string; config?: Record<string, unknown> },
): Session {
  return {
    conn,
    async write(key) {
      await conn.ok("store_data", { scope, key, value: payload(key) });
    },
    async read(key) {
      const got = await conn.ok("retrieve_data", { scope, key });
      if (got.found !== true) throw new Error(`retrieve_data ${scope}/${key}: not found`);
    },
    async remove(key) {
      await conn.ok("delete_data", { scope, key });
    },
    async noop() {
      await conn.ok("retrieve_data", { scope: `${scope}-absent`, key: "none" });
    },
    async prefill(n) {
      if (o.prefill === "local-file") {
        const base = resolve(o.repo, String(storage.config?.base_path ?? DEFAULT_BASE_PATH));
        await writeLocalScopeFile(base, fullScope, n);
      } else {
        await prefillThroughAdapter(o, storage, fullScope, n);
      }
      const keys = (await conn.ok("list_keys", { scope })).keys as string[];
      if (keys.length !== n) throw new Error(`prefill of ${scope}: ${keys.length} keys, not ${n}`);
    },
    async present() {
      return new Set((await conn.ok("list_keys", { scope })).keys as string[]);
    },
    async casIncrement(key) {
      let attempts = 0, conflicts = 0;
      for (;;) {
        const cur = await conn.ok("retrieve_data", { scope, key });
        const value = typeof cur.value === "number" ? cur.value : 0;
        attempts++;
        const out = await conn.call("store_data", {
          scope,
          key,
          value: value + 1,
          if_version: cur.version,
        });
        if (out.ok) return { attempts, conflicts };
        if (out.code !== "VERSION_CONFLICT") throw new Error(`store_data failed: ${out.text}`);
        conflicts++;
      }
    },
    async counter(key) {
      const cur = await conn.ok("retrieve_data", { scope, key });
      return typeof cur.value === "number" ? cur.value : 0;
    },
    close: () => conn.close(),
  };
}

/**
 * Writes a format-1 scope file of the local adapter (src/storage/file/_v1.ts;
 * every version reads it, the log format converts it on its first write)
 * holding pre0..pre{n-1}. With the whole-file format, prefilling 10,000 keys
 * through store() would rewrite the whole file 10,000 times (about O(n²)).
 */
async function writeLocalScopeFile(base: string, scope: Scope, n: number): Promise<void> {
  const at = new Date().toISOString();
  const data: Record<string, JsonValue> = {};
  const keys: Record<string, JsonValue> = {};
  for (let i = 0; i < n; i++) {
    const key = `pre${i}`;
    data[key] = payload(key);
    keys[key] = { version: i + 1, updated_at: at, updated_by: "prefill", expires_at: null };
  }
  const doc = {
    format: 1,
    scope,
    data,
    metadata: { seq: n, created_at: at, updated_at: at, keys },
  };
  await Deno.mkdir(base, { recursive: true });
  const file = join(base, scopeToFileName(scope));
  await Deno.writeTextFile(file + ".prefill", JSON.stringify(doc));
  await Deno.rename(file + ".prefill", file);
}

/** Prefills through the adapter's own restore(), in this process, 16 at a time. */
async function prefillThroughAdapter(
  o: OursOptions,
  storage: { adapter: string; config?: Record<string, unknown> },
  scope: Scope,
  n: number,
): Promise<void> {
  const limits = o.config.limits as { max_value_bytes?: number } | undefined;
  const adapter = await builtinRegistry().create(storage.adapter, storage.config ?? {}, {
    projectRoot: o.repo,
    limits: { maxValueBytes: limits?.max_value_bytes ?? 1024 * 1024 },
  });
  try {
    const at = new Date().toISOString();
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < n; i = next++) {
        const key = `pre${i}`;
        await adapter.restore(scope, key, {
          value: payload(key),
          version: i + 1,
          updatedAt: at,
          updatedBy: "prefill",
          expiresAt: null,
          heldBy: null,
        });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    await adapter.close();
  }
}

/** Options of the peer subject. */
export interface PeerOptions {
  node: string;
  entry: string;
  dir: string;
  home: string;
}

/** @modelcontextprotocol/server-memory; each namespace is its own memory file. */
export function peerSubject(o: PeerOptions): Subject {
  const command = (file: string): ServerCommand => ({
    command: o.node,
    args: [o.entry],
    cwd: o.dir,
    env: { HOME: o.home, PATH: basePath(), MEMORY_FILE_PATH: file, NO_COLOR: "1" },
  });
  const entity = (name: string) => ({
    name,
    entityType: "bench",
    observations: [JSON.stringify(payload(name))],
  });
  return {
    label: "peer",
    spawn: () => connect(command(join(o.dir, "cold.jsonl")), "bench-cold"),
    async open(ns) {
      const file = join(o.dir, `${ns}.jsonl`);
      const conn = await connect(command(file));
      return {
        conn,
        async write(key) {
          await conn.ok("create_entities", { entities: [entity(key)] });
        },
        async read(key) {
          const got = await conn.ok("open_nodes", { names: [key] });
          if ((got.entities as unknown[]).length !== 1) throw new Error(`open_nodes ${key}: none`);
        },
        async remove(key) {
          await conn.ok("delete_entities", { entityNames: [key] });
        },
        async noop() {
          await conn.ok("open_nodes", { names: ["none"] });
        },
        async prefill(n) {
          const batch = 500;
          for (let i = 0; i < n; i += batch) {
            const names = Array.from({ length: Math.min(batch, n - i) }, (_, j) => `pre${i + j}`);
            await conn.ok("create_entities", { entities: names.map(entity) });
          }
          const count = (await readMemoryFile(file)).size;
          if (count !== n) throw new Error(`peer prefill: ${count} entities, not ${n}`);
        },
        present: () => readMemoryFile(file),
        close: () => conn.close(),
      };
    },
  };
}

/** Entity names in a server-memory JSONL file (read directly, not through a server). */
export async function readMemoryFile(file: string): Promise<Set<string>> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return new Set();
    throw err;
  }
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const item = JSON.parse(line);
    if (item.type === "entity") names.add(item.name);
  }
  return names;
}
