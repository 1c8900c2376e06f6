/**
 * How far a config is trusted. A project's own config file
 * (`.claude/session-coordinator-config.json`) arrives with `git clone`: it
 * was written by whoever wrote the repository. Left unchecked it could point
 * the state directory at `~/.ssh`, send every handoff to someone else's
 * Redis, or make the server tell agents it runs on another machine. So:
 *
 * - `--config`, `$CLAUDE_SESSION_COORDINATOR_CONFIG` and the per-user file
 *   are the user's own word: trusted.
 * - A project file may tune sessions and limits, and keep state inside the
 *   project, but it may not select a network store, put the state
 *   directory outside the project, or set `session.machine_id`, unless the
 *   per-user config lists the project in `trusted_projects`. Otherwise the
 *   server refuses to start with CONFIG_INVALID saying exactly that.
 * - Whatever the source, a state directory the user did not name themselves
 *   (the default, or one from an untrusted project file) must really be
 *   inside the project: a symbolic link planted in the repository that leads
 *   elsewhere is refused.
 *
 * @module
 */
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { CoordinatorError } from "../core/errors.ts";
import type { Config, LoadedConfig } from "./config.ts";

/** Adapters a project file may select on its own: they keep data on this machine. */
const LOCAL_ADAPTERS = new Set(["local", "memory"]);

/** How the config was trusted, for --validate-config. */
export type TrustLevel = "explicit" | "user" | "trusted project" | "project" | "defaults";

/** The verdict on a loaded config. */
export interface TrustVerdict {
  level: TrustLevel;
  /** The config as it may be used: an untrusted project's dashboard.token left out. */
  config: Config;
  /** What the user should know even though the config is accepted. */
  warnings: string[];
}

/** The real path of `path`: symlinks resolved as far as the path exists. */
async function realPathSoFar(path: string): Promise<string> {
  const missing: string[] = [];
  let cur = resolve(path);
  for (;;) {
    try {
      return join(await Deno.realPath(cur), ...missing.reverse());
    } catch {
      const parent = dirname(cur);
      if (parent === cur) return resolve(path);
      missing.push(cur.slice(parent.length).replace(/^[\\/]+/, ""));
      cur = parent;
    }
  }
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel) && !rel.startsWith(sep));
}

function untrusted(file: string | null, field: string, what: string): CoordinatorError {
  return new CoordinatorError(
    "CONFIG_INVALID",
    `${
      file ?? "(defaults)"
    }: ${field}: ${what} A project's own config file comes with the repository, so it may not do this unless you trust the project: add its root to "trusted_projects" in ~/.config/claude-session-coordinator/config.json, or pass the settings with --config.`,
    { file, field },
  );
}

/**
 * Checks a loaded config against the trust rules (see the module comment);
 * throws CONFIG_INVALID for what an untrusted file may not do.
 */
export async function checkTrust(
  loaded: LoadedConfig,
  options: { projectRoot: string; trustedProjects: string[] },
): Promise<TrustVerdict> {
  const { config, origin, source } = loaded;
  const root = options.projectRoot;
  const trustedRoots = await Promise.all(options.trustedProjects.map(realPathSoFar));
  const projectTrusted = trustedRoots.some((t) => isInside(t, root));
  const level: TrustLevel = origin === "defaults"
    ? "defaults"
    : origin === "home"
    ? "user"
    : origin === "project"
    ? (projectTrusted ? "trusted project" : "project")
    : "explicit";
  const warnings: string[] = [];
  let usable = config;
  const adapter = config.storage.adapter;
  const basePath = config.storage.config.base_path;
  if (level === "project") {
    if (!LOCAL_ADAPTERS.has(adapter)) {
      throw untrusted(
        source,
        "storage.adapter",
        `selects the ${
          JSON.stringify(adapter)
        } adapter, which sends the project's state over the network.`,
      );
    }
    if (config.session.machine_id.trim().toLowerCase() !== "auto") {
      throw untrusted(source, "session.machine_id", "names this machine.");
    }
    if (config.dashboard.token !== undefined) {
      // Whoever wrote the repository knows this token: were it used, a
      // dashboard the user opens to the network would be open to them.
      const { token: _known, ...dashboard } = config.dashboard;
      usable = { ...config, dashboard };
      warnings.push(
        `${source}: dashboard.token is not used: it came with the repository, so whoever wrote the repository knows it. Pass --token or $CLAUDE_SESSION_COORDINATOR_TOKEN, or trust the project (trusted_projects in ~/.config/claude-session-coordinator/config.json).`,
      );
    }
  }
  if (level === "trusted project" && !LOCAL_ADAPTERS.has(adapter)) {
    warnings.push(
      `the project's own config (${source}) selects the ${adapter} adapter; allowed because trusted_projects lists the project.`,
    );
  }
  if (adapter === "local") {
    // Only a directory the user named themselves may lie outside the project.
    const userNamed = typeof basePath === "string" && level !== "project" && level !== "defaults";
    if (!userNamed) {
      const target = resolve(
        root,
        typeof basePath === "string" ? basePath : ".claude/session-state",
      );
      const real = await realPathSoFar(target);
      if (!isInside(root, real)) {
        if (level === "project") {
          throw untrusted(
            source,
            "storage.config.base_path",
            `the state directory ${target} ${
              real === target ? "is" : `leads to ${real}, which is`
            } outside the project ${root}.`,
          );
        }
        // The default directory, made a link out of the project (a cloned
        // repository can carry such a link).
        throw new CoordinatorError(
          "CONFIG_INVALID",
          `${
            source ?? "(defaults)"
          }: storage.config.base_path: the state directory ${target} is a symbolic link that leads to ${real}, outside the project ${root}. Remove the link; to keep the state elsewhere on purpose, set storage.config.base_path in a config you trust (--config, or ~/.config/claude-session-coordinator/config.json).`,
          { file: source, field: "storage.config.base_path" },
        );
      }
    }
  }
  return { level, config: usable, warnings };
}
