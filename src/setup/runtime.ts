/**
 * Start-up: finds the project, loads the config, opens the storage and builds
 * the SessionContext that transports serve. No MCP here.
 */
import { type Config, loadConfig, type LoadedConfig, readTrustedProjects } from "./config.ts";
import { checkTrust, type TrustLevel } from "./trust.ts";
import { detectMachineId, detectProject, findProjectRoot } from "./detect.ts";
import { realScheduler, type ServerContext } from "../core/context.ts";
import { createAuditSink } from "../core/audit.ts";
import { createChangeHub } from "../core/live/hub.ts";
import type { AdapterRegistry } from "../storage/registry.ts";

/** Where start-up looks for things. */
export interface RuntimeOptions {
  configPath?: string;
  cwd: string;
  env: (name: string) => string | undefined;
  homeDir: string | null;
  registry: AdapterRegistry;
}

/** A loaded config with the project it applies to, before any storage is opened. */
export interface ResolvedSetup {
  loaded: LoadedConfig;
  projectRoot: string;
  machine: string;
  project: string;
  projectSource: string;
  /** How far the config is trusted (setup/trust.ts). */
  trust: TrustLevel;
  /** What the user should know about the config, though it was accepted. */
  warnings: string[];
}

/** Finds the project root, loads and validates the config, detects machine and project. */
export async function resolveSetup(options: RuntimeOptions): Promise<ResolvedSetup> {
  const root = await findProjectRoot(options.cwd);
  const sources = {
    explicitPath: options.configPath,
    env: options.env,
    projectRoot: root.root,
    homeDir: options.homeDir,
    cwd: options.cwd,
  };
  const adapters = options.registry.names();
  const [loaded, trustedProjects] = await Promise.all([
    loadConfig(sources, adapters),
    readTrustedProjects(sources, adapters),
  ]);
  const verdict = await checkTrust(loaded, { projectRoot: root.root, trustedProjects });
  const [machine, project] = await Promise.all([
    detectMachineId(loaded.config.session.machine_id),
    detectProject({ cwd: options.cwd, mode: loaded.config.session.project_detection, root }),
  ]);
  return {
    loaded: { ...loaded, config: verdict.config },
    projectRoot: project.projectRoot,
    machine,
    project: project.projectId,
    projectSource: project.source,
    trust: verdict.level,
    warnings: verdict.warnings,
  };
}

/** Opens the configured storage and builds the context every session shares. */
export async function openContext(
  setup: ResolvedSetup,
  options: Pick<RuntimeOptions, "registry"> & {
    log?: (line: string) => void;
    /** Open only to check the config: the storage writes nothing. */
    probeOnly?: boolean;
  },
): Promise<ServerContext> {
  const config: Config = setup.loaded.config;
  const storage = await options.registry.create(config.storage.adapter, config.storage.config, {
    projectRoot: setup.projectRoot,
    limits: { maxValueBytes: config.limits.max_value_bytes },
    log: options.log,
    probeOnly: options.probeOnly,
  });
  return {
    storage,
    identity: { machine: setup.machine, project: setup.project },
    leaseTtlSeconds: config.session.lease_ttl_seconds,
    maxInstances: config.session.max_instances,
    scheduler: realScheduler,
    changes: createChangeHub(storage),
    audit: createAuditSink(
      storage,
      { machine: setup.machine, project: setup.project },
      config.audit,
      options.log ?? ((line) => console.error(line)),
    ),
  };
}
