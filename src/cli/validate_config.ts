/** --validate-config: print the merged config, where it came from and whether the storage answers. */
import { redactSecrets } from "../core/redact.ts";
import type { Config } from "../setup/config.ts";
import { openContext, resolveSetup } from "../setup/runtime.ts";
import { type CliInput, EXIT, log } from "./_shared.ts";

/** The config as printed: the dashboard's token is a secret as a whole, so only its presence shows. */
function withoutToken(config: Config): Config {
  const { dashboard } = config;
  return dashboard.token === undefined
    ? config
    : { ...config, dashboard: { ...dashboard, token: "***" } };
}

/**
 * Opening the storage checks the adapter's own config; a probe read tells
 * whether the backend answers, which is worth knowing but does not make the
 * config invalid. Nothing is written.
 */
export async function validateConfig({ options }: CliInput): Promise<number> {
  const setup = await resolveSetup(options);
  for (const warning of setup.warnings) log(`warning: ${warning}`);
  const ctx = await openContext(setup, { ...options, probeOnly: true });
  let storage = "reachable";
  try {
    await ctx.storage.listKeys(`${setup.machine}:${setup.project}:session:probe`);
  } catch (err) {
    storage = `unreachable: ${err instanceof Error ? err.message : String(err)}`;
    log(`warning: the config is valid, but the storage is ${storage}`);
  } finally {
    await ctx.storage.close();
  }
  console.log(JSON.stringify(
    redactSecrets({
      valid: true,
      storage,
      source: setup.loaded.source ?? "built-in defaults",
      trust: setup.trust,
      warnings: setup.warnings,
      machine: setup.machine,
      project: setup.project,
      project_source: setup.projectSource,
      project_root: setup.projectRoot,
      config: withoutToken(setup.loaded.config),
    }),
    null,
    2,
  ));
  return EXIT.ok;
}
