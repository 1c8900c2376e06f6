/**
 * Detects who and where we are: the machine id and the project id that
 * prefix every scope (`machine:project`). Both are built from a small
 * alphabet, [a-z0-9._-] (plus "/" between project segments), so they never
 * contain ":" or "@" and always make valid, readable scope names.
 */
import { basename, dirname, isAbsolute, resolve } from "node:path";
import { git } from "./git.ts";

/** Longest machine id, and longest single project id segment. */
const MAX_SEGMENT_CHARS = 64;
/** Longest project id; machine id + ":" + project id stays well under the scope limit. */
const MAX_PROJECT_ID_CHARS = 128;
/** Used when nothing usable is left of a machine name. */
const UNKNOWN_MACHINE = "unknown-machine";
/** Used when nothing usable is left of a directory name (e.g. the file system root). */
const UNKNOWN_PROJECT = "unknown-project";

/** How the project id was found. */
export type ProjectSource = "git-remote" | "git-root" | "directory";

/** How the project id is chosen: from the git remote, or from the directory name. */
export type ProjectDetectionMode = "git" | "directory";

/** Where the project lives, and whether git said so. */
export interface ProjectRoot {
  /** Absolute, symlink-free path of the project's main working tree (or bare repo). */
  root: string;
  /** True when git located the root; false when it is just the starting directory. */
  viaGit: boolean;
}

/** Options for detectProject. */
export interface DetectProjectOptions {
  /** Directory to start from, usually the session's working directory. */
  cwd: string;
  mode: ProjectDetectionMode;
  /** The project root when the caller already found it (spares a git call). */
  root?: ProjectRoot;
}

/** The detected project. */
export interface DetectedProject {
  /** Lower-case id such as `owner/repo`, or one directory-name segment. */
  projectId: string;
  /** Same as ProjectRoot.root. */
  projectRoot: string;
  source: ProjectSource;
}

/**
 * Lower-cases `raw`, folds accents ("é" → "e"), replaces every run of other
 * characters with "-" and trims "-" and "." at both ends; "" when nothing is left.
 */
function normalizeSegment(raw: string, maxChars = MAX_SEGMENT_CHARS): string {
  const folded = raw.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
  const trimEnds = (s: string) => s.replace(/^[.-]+|[.-]+$/g, "");
  // Trim again after cutting, so a cut never leaves a trailing "-" or ".".
  return trimEnds(trimEnds(folded.replace(/[^a-z0-9._-]+/g, "-")).slice(0, maxChars));
}

/** Turns any host or configured name into a machine id of [a-z0-9._-], at most 64 chars. */
export function normalizeMachineId(raw: string): string {
  return normalizeSegment(raw) || UNKNOWN_MACHINE;
}

/** The host name from the OS, else from $HOSTNAME / $COMPUTERNAME; null when none is readable. */
function readHostName(): string | null {
  try {
    const name = Deno.hostname();
    if (name) return name;
  } catch {
    // --allow-sys=hostname missing, or the OS call failed: try the environment.
  }
  for (const variable of ["HOSTNAME", "COMPUTERNAME"]) {
    try {
      const value = Deno.env.get(variable);
      if (value) return value;
    } catch {
      // No --allow-env for this variable: try the next one.
    }
  }
  return null;
}

/** The machine id: the normalized host name for "auto" (any case), else the normalized configured value. */
export function detectMachineId(configured: string): Promise<string> {
  const wanted = configured.trim();
  const raw = wanted.toLowerCase() === "auto" ? readHostName() ?? "" : wanted;
  return Promise.resolve(normalizeMachineId(raw));
}

/** Splits `s` once at the first match of `sep`; [s, ""] when absent. */
function splitOnce(s: string, sep: string): [string, string] {
  const at = s.indexOf(sep);
  return at < 0 ? [s, ""] : [s.slice(0, at), s.slice(at + sep.length)];
}

/** Decodes %xx escapes where valid; leaves the segment alone otherwise. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** A remote split up: host (lower-case, no credentials, no port) and path, or a local path. */
type RemoteParts =
  | { host: string; path: string; encoded: boolean }
  | { local: string; encoded: boolean };

/** Extracts the host from an authority `user:pass@host:port`; credentials are dropped here. */
function hostOf(authority: string): string {
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1);
  if (hostPort.startsWith("[")) return hostPort.slice(1, hostPort.indexOf("]")).toLowerCase();
  return splitOnce(hostPort, ":")[0].toLowerCase();
}

/**
 * Splits a remote URL into host and path. Returns `{ local: path }` for file
 * URLs and local paths. Git's own rule decides scp-style: a ":" before the
 * first "/" that is not a Windows drive letter.
 */
function splitRemote(url: string): RemoteParts {
  // `transport::address` forms (remote helpers): the address is what matters.
  const helper = /^[a-z][a-z0-9+.-]*::(.*)$/is.exec(url);
  const address = helper ? helper[1] : url;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/is.exec(address);
  if (scheme) {
    // Query and fragment can carry tokens; they never name the repository.
    const rest = scheme[2].replace(/[?#].*$/s, "");
    if (scheme[1].toLowerCase() === "file") return { local: rest, encoded: true };
    const [authority, path] = splitOnce(rest, "/");
    return { host: hostOf(authority), path, encoded: true };
  }
  const colon = address.indexOf(":");
  const slash = address.search(/[/\\]/);
  if (colon > 1 && (slash < 0 || colon < slash)) {
    // scp-style `user@host:path`; the user part (up to the last "@" before any "/") is dropped.
    const head = slash < 0 ? address : address.slice(0, slash);
    const withoutUser = address.slice(head.lastIndexOf("@") + 1);
    // `[host]:path` (IPv6, or `[host:port]:path`) puts colons inside the brackets.
    const bracketed = /^\[([^\]]*)\]:(.*)$/s.exec(withoutUser);
    const [host, path] = bracketed ? [bracketed[1], bracketed[2]] : splitOnce(withoutUser, ":");
    return { host: host.toLowerCase(), path, encoded: false };
  }
  return { local: address, encoded: false };
}

/** Azure DevOps forms: drops the `v3` (ssh), `DefaultCollection` and `_git` markers, adds the legacy org. */
function azureSegments(host: string, segments: string[]): string[] {
  let out = segments;
  const ssh = host === "ssh.dev.azure.com" || host === "vs-ssh.visualstudio.com";
  if (ssh && out[0]?.toLowerCase() === "v3") out = out.slice(1);
  if (host.endsWith(".visualstudio.com") && !ssh) {
    // Legacy https://org.visualstudio.com/[DefaultCollection/]project/_git/repo.
    const org = host.slice(0, -".visualstudio.com".length);
    if (out[0]?.toLowerCase() === "defaultcollection") out = out.slice(1);
    out = [org, ...out];
  }
  // "_git" marks Azure DevOps and TFS paths on every host; it is never part of the name.
  return out.filter((segment) => segment.toLowerCase() !== "_git");
}

/** Joins normalized segments, dropping leading ones until the id fits the length limit. */
function joinProjectId(segments: string[]): string | null {
  const usable = segments.map((s) => normalizeSegment(s)).filter((s) => s !== "");
  while (usable.length > 1 && usable.join("/").length > MAX_PROJECT_ID_CHARS) usable.shift();
  return usable.length > 0 ? usable.join("/") : null;
}

/** Path segments (URL-decoded when `encoded`) without empty, "." and ".." parts or a trailing ".git". */
function pathSegments(path: string, encoded: boolean): string[] {
  const segments = path.split(/[/\\]/)
    .map((s) => encoded ? decodeSegment(s) : s)
    .filter((s) => s !== "" && s !== "." && s !== "..");
  const last = segments.length - 1;
  if (last >= 0) segments[last] = segments[last].replace(/\.git$/i, "");
  return segments;
}

/**
 * The project id of a git remote URL: its path as lower-case `owner/repo`
 * (every segment for GitLab subgroups, `org/project/repo` for Azure DevOps),
 * without host, port, credentials or `.git`. Local paths and file:// URLs
 * give only their final directory name, since the rest of a local path
 * differs from machine to machine. Null when no usable segment remains.
 */
export function parseRemoteUrl(url: string): string | null {
  const parts = splitRemote(url.trim());
  if ("local" in parts) {
    return joinProjectId(pathSegments(parts.local, parts.encoded).slice(-1));
  }
  return joinProjectId(azureSegments(parts.host, pathSegments(parts.path, parts.encoded)));
}

/** Resolves symlinks where possible, so /tmp and /private/tmp style aliases agree. */
async function realPath(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return resolve(path);
  }
}

/**
 * The main working tree of the repository holding `gitDir` (its common dir),
 * or null when git does not say. Non-".git" common dirs are bare repos (the
 * root is the repo itself, shared by all its worktrees) or submodules and
 * separate git dirs (the root is `core.worktree` when set).
 */
async function rootFromCommonDir(common: string): Promise<string | null> {
  if (basename(common) === ".git") return dirname(common);
  const gitDirArg = `--git-dir=${common}`;
  const [bare, workTree] = await Promise.all([
    git([gitDirArg, "rev-parse", "--is-bare-repository"], common),
    git([gitDirArg, "config", "--get", "core.worktree"], common),
  ]);
  if (bare === "true") return common;
  return workTree ? resolve(common, workTree) : null;
}

/**
 * The project root: the MAIN working tree of the repository around `cwd`,
 * found through the common git dir, so a subdirectory and every linked
 * worktree of one repository resolve to the same root. Falls back to the
 * current worktree's top, then to `cwd` itself (viaGit false).
 */
export async function findProjectRoot(cwd: string): Promise<ProjectRoot> {
  const common = await git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd);
  // Git before 2.31 does not know --path-format and may echo it back: accept one absolute path only.
  if (common && !common.includes("\n") && isAbsolute(common)) {
    const root = await rootFromCommonDir(common);
    if (root) return { root: await realPath(root), viaGit: true };
  }
  const top = await git(["rev-parse", "--show-toplevel"], cwd);
  if (top) return { root: await realPath(top), viaGit: true };
  return { root: await realPath(cwd), viaGit: false };
}

/** One project id segment from a directory name; a bare repo's trailing ".git" is dropped. */
function directoryProjectId(root: string): string {
  return normalizeSegment(basename(root).replace(/\.git$/i, "")) || UNKNOWN_PROJECT;
}

/**
 * Detects the project id. Mode "git" uses the `origin` remote, else the root
 * directory's name. Mode "directory" always uses the directory name, but of
 * the root git resolves, so worktrees and subdirectories still agree.
 */
export async function detectProject(options: DetectProjectOptions): Promise<DetectedProject> {
  const { root, viaGit } = options.root ?? await findProjectRoot(options.cwd);
  if (options.mode === "git" && viaGit) {
    const url = await git(["remote", "get-url", "origin"], root);
    const fromRemote = url ? parseRemoteUrl(url) : null;
    if (fromRemote) return { projectId: fromRemote, projectRoot: root, source: "git-remote" };
  }
  return {
    projectId: directoryProjectId(root),
    projectRoot: root,
    source: options.mode === "git" && viaGit ? "git-root" : "directory",
  };
}
