/**
 * Everything the bench needs around the servers: the machine description,
 * temp directories that are always removed, a throwaway git repo, and the
 * exact command line of our server (taken from deno.json's start task).
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the folder holding deno.json). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Runs a command and returns its trimmed stdout; throws with stderr when it fails. */
export async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return new TextDecoder().decode(out.stdout).trim();
}

/** Like run, but null instead of throwing (tool missing or failing). */
export async function tryRun(cmd: string, args: string[]): Promise<string | null> {
  try {
    return await run(cmd, args);
  } catch {
    return null;
  }
}

/** Temp directories made by the bench; removeAll() deletes every one. */
export class TempDirs {
  #dirs: string[] = [];

  async make(prefix: string): Promise<string> {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: `csc_bench_${prefix}_` }));
    this.#dirs.push(dir);
    return dir;
  }

  async removeAll(): Promise<void> {
    for (const dir of this.#dirs.splice(0)) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}

/** A git repo with one commit on branch main, so sign_on sees a branch and HEAD. */
export async function makeGitRepo(dir: string): Promise<void> {
  const git = (...args: string[]) =>
    run("git", ["-c", "user.name=bench", "-c", "user.email=bench@localhost", ...args], dir);
  await git("init", "-q", "-b", "main");
  await Deno.writeTextFile(join(dir, "README"), "bench\n");
  await git("add", "README");
  await git("commit", "-q", "-m", "init");
}

/** The permission flags of deno.json's start task, e.g. ["--allow-read", ...]. */
export async function startTaskFlags(): Promise<string[]> {
  const denoJson = JSON.parse(await Deno.readTextFile(join(REPO_ROOT, "deno.json")));
  const task: unknown = denoJson.tasks?.start;
  const line = typeof task === "string" ? task : (task as { command?: string })?.command;
  if (typeof line !== "string") throw new Error("deno.json has no tasks.start");
  const words = line.trim().split(/\s+/);
  const at = words.indexOf("run");
  if (words[0] !== "deno" || at < 0) throw new Error(`tasks.start is not "deno run …": ${line}`);
  const flags: string[] = [];
  for (const word of words.slice(at + 1)) {
    if (!word.startsWith("-")) break; // the script
    flags.push(word);
  }
  return flags;
}

/** Deno's cache directory, so servers started with another HOME still find the npm packages. */
export async function denoDir(): Promise<string> {
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return fromEnv;
  const info = JSON.parse(await run(Deno.execPath(), ["info", "--json"]));
  return info.denoDir as string;
}

/** PATH for the servers (git and node must be found). */
export function basePath(): string {
  return Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
}

/** What the figures came from. */
export interface MachineInfo {
  date: string;
  nproc: number;
  cpu_model: string;
  memory_gib: number;
  os: string;
  kernel: string;
  deno: string;
  v8: string;
  node: string | null;
  filesystem: string | null;
}

/** Describes this machine. */
export async function machineInfo(tempDir: string): Promise<MachineInfo> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? Deno.build.arch;
  const osRelease = await Deno.readTextFile("/etc/os-release").catch(() => "");
  const pretty = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(osRelease)?.[1] ?? Deno.build.os;
  const nproc = Number(await tryRun("nproc", [])) || navigator.hardwareConcurrency;
  const df = await tryRun("df", ["-T", tempDir]);
  const fsLine = df?.split("\n")[1]?.split(/\s+/);
  return {
    date: new Date().toISOString(),
    nproc,
    cpu_model: cpuModel,
    memory_gib: Math.round(Deno.systemMemoryInfo().total / 2 ** 30 * 10) / 10,
    os: pretty,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    node: await tryRun("node", ["--version"]),
    filesystem: fsLine ? `${fsLine[1]} (${fsLine[0]})` : null,
  };
}

/** Sleeps for `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** CPU counters (Linux): the whole machine's busy time, and this process's own plus its children's. */
export interface CpuSnapshot {
  at: number;
  machineBusyMs: number;
  selfAndChildrenMs: number;
  loadavg: string;
}

/** Reads the CPU counters; null off Linux. */
export async function cpuSnapshot(): Promise<CpuSnapshot | null> {
  try {
    const stat = await Deno.readTextFile("/proc/stat");
    const cpu = stat.split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: busy = all but idle and iowait.
    const busy = cpu.reduce((a, b) => a + b, 0) - cpu[3] - (cpu[4] ?? 0);
    const self = await Deno.readTextFile("/proc/self/stat");
    const f = self.slice(self.lastIndexOf(")") + 2).split(" ").map(Number);
    // utime stime cutime cstime are fields 14-17, i.e. 11-14 after the ")".
    const mine = f[11] + f[12] + f[13] + f[14];
    const loadavg = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
    return {
      at: performance.now(),
      machineBusyMs: busy * 10,
      selfAndChildrenMs: mine * 10,
      loadavg,
    };
  } catch {
    return null;
  }
}

/** Which code was measured: HEAD, whether src/ or main.ts differ from it, and the file adapter's format. */
export async function treeInfo(): Promise<Record<string, unknown>> {
  const head = await tryRun("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"]);
  const dirty = await tryRun("git", [
    "-C",
    REPO_ROOT,
    "status",
    "--porcelain",
    "--",
    "src",
    "main.ts",
  ]);
  // The local adapter is the folder src/storage/file/: its digest covers every module in it.
  const dir = join(REPO_ROOT, "src", "storage", "file");
  const names = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".ts")) names.push(entry.name);
  }
  names.sort();
  const texts = await Promise.all(names.map((n) => Deno.readTextFile(join(dir, n))));
  const fileTs = texts[names.indexOf("adapter.ts")] ?? "";
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(names.map((n, i) => `${n}\0${texts[i]}`).join("\0")),
    ),
  );
  return {
    head,
    uncommitted_changes: dirty ? dirty.split("\n").map((l) => l.trim()) : [],
    file_adapter_sha256: [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(
      "",
    ),
    file_adapter_format: /append-only/.test(fileTs) ? "2 (append-only log)" : "1 (whole file)",
  };
}
