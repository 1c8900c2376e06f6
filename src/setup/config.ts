/**
 * The configuration: where it comes from, its schema and defaults, and
 * error messages that name the file and the dotted field to fix.
 *
 * Exactly one file is read (the first source that applies) and merged deeply
 * over the defaults, so a file may set just the keys it cares about.
 */
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { CoordinatorError } from "../core/errors.ts";
import { deepMerge, isPlainObject } from "../core/json.ts";
import { DEFAULT_MAX_VALUE_BYTES } from "../storage/contract.ts";
import { type AuditSettings, DEFAULT_AUDIT } from "../core/audit.ts";

/** The dashboard's default port. */
export const DEFAULT_DASHBOARD_PORT = 4117;

/** The validated configuration. */
export interface Config {
  storage: {
    /** Registry name of the storage adapter. */
    adapter: string;
    /** The adapter's own settings; the adapter validates them and applies its defaults. */
    config: Record<string, unknown>;
  };
  session: {
    /** "auto" (the host name) or a fixed machine name. */
    machine_id: string;
    project_detection: "git" | "directory";
    lease_ttl_seconds: number;
    /** Most live sessions per project; absent means unbounded. */
    max_instances?: number;
  };
  limits: { max_value_bytes: number };
  /** The audit log (core/audit.ts). */
  audit: AuditSettings;
  /** The web dashboard (`dashboard` command). */
  dashboard: { host: string; port: number; token?: string };
  /**
   * Project roots whose own config file is trusted to move storage or name
   * the machine (see setup/trust.ts). Read from the per-user config only.
   */
  trusted_projects?: string[];
}

/** Which source a config came from: it decides how far it is trusted (setup/trust.ts). */
export type ConfigOrigin = "--config" | typeof CONFIG_ENV_VAR | "project" | "home" | "defaults";

/** A loaded configuration and the file it came from. */
export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file read, or null for the built-in defaults. */
  source: string | null;
  origin: ConfigOrigin;
}

/** Everything loadConfig looks at, passed in so tests need no global state. */
export interface ConfigSources {
  /** The --config argument, if given. */
  explicitPath?: string;
  /** Reads an environment variable. */
  env: (name: string) => string | undefined;
  projectRoot: string;
  /** The user's home directory; null skips the per-user config file. */
  homeDir: string | null;
  /** Where relative explicit and env paths resolve. */
  cwd: string;
}

/** One problem found in a config file. */
export interface ConfigIssue {
  /** Dotted field path such as `session.lease_ttl_seconds`, or "(root)". */
  path: string;
  message: string;
}

/** The environment variable naming a config file. */
export const CONFIG_ENV_VAR = "CLAUDE_SESSION_COORDINATOR_CONFIG";

/** Where a project's own config lives, relative to the project root. */
export const PROJECT_CONFIG_PATH = join(".claude", "session-coordinator-config.json");

/** Where the per-user config lives, relative to the home directory. */
export const USER_CONFIG_PATH = join(".config", "claude-session-coordinator", "config.json");

/** Path used in issues about the file as a whole. */
const ROOT_PATH = "(root)";

/** Freezes an object graph, so the shared defaults cannot be changed by accident. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The built-in defaults (frozen). */
export const DEFAULT_CONFIG: Config = deepFreeze({
  storage: { adapter: "local", config: {} },
  session: { machine_id: "auto", project_detection: "git", lease_ttl_seconds: 60 },
  limits: { max_value_bytes: DEFAULT_MAX_VALUE_BYTES },
  audit: { ...DEFAULT_AUDIT },
  dashboard: { host: "127.0.0.1", port: DEFAULT_DASHBOARD_PORT },
});

/** Every leaf key with its meaning; `unset` describes a key that has no default value. */
const KEY_DOCS: ReadonlyArray<{ key: string; description: string; unset?: string }> = [
  {
    key: "storage.adapter",
    description: "Storage adapter name, e.g. local (JSON files) or redis.",
  },
  {
    key: "storage.config",
    description: "Settings for the chosen adapter; the adapter checks them and fills its defaults.",
  },
  {
    key: "session.machine_id",
    description: '"auto" uses the host name; any other text is used as the machine name.',
  },
  {
    key: "session.project_detection",
    description: '"git" names the project after the origin remote; "directory" after its folder.',
  },
  {
    key: "session.lease_ttl_seconds",
    description: "Seconds a session stays live without a heartbeat (5 to 86400).",
  },
  {
    key: "session.max_instances",
    description: "Most live sessions per project (1 to 1000).",
    unset: "unbounded",
  },
  {
    key: "limits.max_value_bytes",
    description: "Largest stored value, in bytes of its JSON text (1 to 67108864).",
  },
  {
    key: "audit.enabled",
    description: "Record every state change (tool writes, lease losses, admin actions).",
  },
  {
    key: "audit.retention_days",
    description: "Days an audit event is kept (1 to 3650).",
  },
  {
    key: "audit.max_events",
    description: "Most audit events kept; the oldest go first (100 to 1000000).",
  },
  {
    key: "audit.include_values",
    description:
      "Copy stored values and message bodies into the audit log (off: no secrets in it).",
  },
  {
    key: "dashboard.host",
    description: "Address the dashboard binds to; anything but loopback requires a token.",
  },
  {
    key: "dashboard.port",
    description: "Port of the dashboard (0: a free one).",
  },
  {
    key: "dashboard.token",
    description:
      "Token the dashboard requires (also $CLAUDE_SESSION_COORDINATOR_TOKEN); required off loopback.",
    unset: "none",
  },
  {
    key: "trusted_projects",
    description:
      "Per-user config only: project roots whose own config may select a network store, a state directory outside the project or a machine_id.",
    unset: "none",
  },
];

/** The value at a dotted path of an object, or undefined. */
function valueAt(root: unknown, dotted: string): unknown {
  let cur = root;
  for (const part of dotted.split(".")) cur = isPlainObject(cur) ? cur[part] : undefined;
  return cur;
}

/** Every config key (dotted, leaves only) with its default and meaning, for the README and --help. */
export function describeConfigKeys(): Array<{ key: string; default: string; description: string }> {
  return KEY_DOCS.map(({ key, description, unset }) => {
    const value = valueAt(DEFAULT_CONFIG, key);
    return {
      key,
      default: value === undefined ? unset ?? "unset" : JSON.stringify(value),
      description,
    };
  });
}

/** Known keys directly under a dotted path ("" for the top level), sorted. */
function knownKeysUnder(prefix: string): string[] {
  const keys = KEY_DOCS.map(({ key }) => key)
    .filter((key) => prefix === "" || key.startsWith(`${prefix}.`))
    .map((key) => (prefix === "" ? key : key.slice(prefix.length + 1)).split(".")[0]);
  return [...new Set(keys)].sort();
}

/** A short, safe description of an input value for error messages. */
function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  }
  return String(value);
}

/** A "got …" suffix; "is required" reads better than "got undefined". */
function mustBe(what: string, input: unknown): string {
  return input === undefined ? `is required (${what})` : `${what}, got ${describeValue(input)}`;
}

/** An integer field limited to min..max, with messages like "must be an integer >= 5". */
function integerIn(min: number, max: number) {
  const tooSmall = `must be an integer >= ${min}`;
  const tooBig = `must be an integer <= ${max}`;
  return z.int({
    // Numbers beyond the safe integer range fail z.int() itself as too_big.
    error: (issue) =>
      issue.code === "too_big"
        ? tooBig
        : issue.code === "too_small"
        ? tooSmall
        : mustBe("must be an integer", issue.input),
  }).min(min, { error: tooSmall }).max(max, { error: tooBig });
}

/** A strict object: unknown keys are reported by formatIssues, wrong types here. */
function strictObject<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys" ? undefined : mustBe("must be an object", issue.input),
  });
}

const StorageSchema = strictObject({
  adapter: z.string({ error: (issue) => mustBe("must be a string", issue.input) })
    .min(1, { error: "must not be empty" }),
  // Not strict: the adapter validates its own config.
  config: z.record(z.string(), z.unknown(), {
    error: (issue) => mustBe("must be an object", issue.input),
  }),
});

const SessionSchema = strictObject({
  machine_id: z.string({ error: (issue) => mustBe("must be a string", issue.input) })
    .refine((value) => value.trim() !== "", {
      error: 'must not be empty (use "auto" for the host name)',
    }),
  project_detection: z.enum(["git", "directory"], {
    error: (issue) => mustBe('must be "git" or "directory"', issue.input),
  }),
  lease_ttl_seconds: integerIn(5, 86_400),
  max_instances: integerIn(1, 1000).optional(),
});

const LimitsSchema = strictObject({ max_value_bytes: integerIn(1, 64 * 1024 * 1024) });

const AuditSchema = strictObject({
  enabled: z.boolean({ error: (issue) => mustBe("must be true or false", issue.input) }),
  retention_days: integerIn(1, 3650),
  max_events: integerIn(100, 1_000_000),
  include_values: z.boolean({ error: (issue) => mustBe("must be true or false", issue.input) }),
});

const DashboardSchema = strictObject({
  host: z.string({ error: (issue) => mustBe("must be a host name or address", issue.input) })
    .min(1, { error: "must not be empty" }),
  port: integerIn(0, 65_535),
  token: z.string({ error: (issue) => mustBe("must be a string", issue.input) })
    .min(16, { error: "must be at least 16 characters (use a random one)" }).optional(),
});

const ConfigSchema = strictObject({
  // Editors add "$schema" to JSON files they know; it carries no setting.
  $schema: z.string().optional(),
  storage: StorageSchema,
  session: SessionSchema,
  limits: LimitsSchema,
  audit: AuditSchema,
  dashboard: DashboardSchema,
  trusted_projects: z.array(
    z.string({ error: (issue) => mustBe("must be a directory path", issue.input) })
      .min(1, { error: "must not be empty" }),
    { error: (issue) => mustBe("must be an array of directory paths", issue.input) },
  ).max(1000).optional(),
});

/** A zod path as `a.b[0]`. */
function dottedPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const part of path) {
    out += typeof part === "number" ? `[${part}]` : `${out === "" ? "" : "."}${String(part)}`;
  }
  return out || ROOT_PATH;
}

/** Turns zod issues into ConfigIssues; each unknown key becomes its own issue. */
function formatIssues(issues: ReadonlyArray<z.core.$ZodIssue>): ConfigIssue[] {
  const all = issues.flatMap((issue): ConfigIssue[] => {
    if (issue.code !== "unrecognized_keys") {
      return [{ path: dottedPath(issue.path), message: issue.message }];
    }
    const parent = dottedPath(issue.path);
    const known = knownKeysUnder(parent === ROOT_PATH ? "" : parent).join(", ");
    return issue.keys.map((key) => ({
      path: dottedPath([...issue.path, key]),
      message: `unknown key (known keys: ${known})`,
    }));
  });
  // A huge number fails both z.int()'s safe range and .max(): say it once.
  const seen = new Set<string>();
  return all.filter(({ path, message }) => {
    const line = `${path}: ${message}`;
    return seen.has(line) ? false : (seen.add(line), true);
  });
}

/** Builds the CONFIG_INVALID error: one `<file>: <path>: <message>` line per issue. */
function configError(file: string | null, issues: ConfigIssue[], cause?: unknown) {
  const prefix = file === null ? "" : `${file}: `;
  const message = issues.map((issue) => `${prefix}${issue.path}: ${issue.message}`).join("\n");
  return new CoordinatorError("CONFIG_INVALID", message, { file, issues }, { cause });
}

/**
 * Validates a parsed config file (`file` only names it in errors; null for
 * none), after deep-merging it over the defaults. Throws CONFIG_INVALID.
 */
export function validateConfig(raw: unknown, file: string | null, adapterNames: string[]): Config {
  if (!isPlainObject(raw)) {
    throw configError(file, [{ path: ROOT_PATH, message: mustBe("must be a JSON object", raw) }]);
  }
  const merged = deepMerge<unknown>(DEFAULT_CONFIG, raw);
  const result = ConfigSchema.safeParse(merged);
  const issues = result.success ? [] : formatIssues(result.error.issues);
  const adapter = valueAt(merged, "storage.adapter");
  if (typeof adapter === "string" && adapter !== "" && !adapterNames.includes(adapter)) {
    const available = adapterNames.length > 0 ? [...adapterNames].sort().join(", ") : "none";
    issues.push({
      path: "storage.adapter",
      message: `unknown adapter ${JSON.stringify(adapter)} (available: ${available})`,
    });
  }
  if (!result.success || issues.length > 0) throw configError(file, issues);
  const { $schema: _ignored, ...config } = result.data;
  return config;
}

/**
 * Line and column (both 1-based) of a JSON.parse error, from its message
 * ("line L column C" or "at position N") or, when the message gives
 * neither, by scanning the text; null when no position can be found.
 */
export function jsonErrorLocation(
  text: string,
  message: string,
): { line: number; column: number } | null {
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (lineColumn) return { line: Number(lineColumn[1]), column: Number(lineColumn[2]) };
  const position = /position (\d+)/.exec(message);
  const offset = position
    ? Math.min(Number(position[1]), text.length)
    : /end of JSON input/.test(message)
    ? text.length
    : scanJsonError(text);
  if (offset < 0) return null;
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - (before.lastIndexOf("\n") + 1) + 1 };
}

/**
 * Offset of the first syntax error in `text` (text.length when it ends too
 * early), or -1 when it finds none. Only for messages without a position,
 * such as V8's "Unexpected token ']', ... is not valid JSON".
 */
function scanJsonError(text: string): number {
  // Sticky regexes are made per call: their lastIndex is state.
  const literal = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
  // deno-lint-ignore no-control-regex
  const stringChar = /[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;
  let i = 0;
  const space = () => {
    while (" \t\n\r".includes(text[i] ?? "x")) i++;
  };
  const expect = (char: string) => {
    if (text[i] !== char) throw i;
    i++;
  };
  const sticky = (re: RegExp) => {
    re.lastIndex = i;
    if (!re.test(text)) throw i;
    i = re.lastIndex;
  };
  const string = () => {
    expect('"');
    while (text[i] !== '"') sticky(stringChar);
    i++;
  };
  const value = (): void => {
    space();
    const open = text[i];
    if (open === "{" || open === "[") {
      const close = open === "{" ? "}" : "]";
      i++;
      space();
      if (text[i] === close) return void i++;
      for (;;) {
        if (open === "{") {
          space();
          string();
          space();
          expect(":");
        }
        value();
        space();
        if (text[i] === close) return void i++;
        expect(",");
      }
    }
    if (open === '"') return string();
    sticky(literal);
  };
  try {
    value();
    space();
    return i < text.length ? i : -1;
  } catch (stop) {
    // A number is where scanning stopped; anything else (stack overflow on
    // absurd nesting) means "unknown".
    return typeof stop === "number" ? stop : -1;
  }
}

/** Parses a config file's text; malformed JSON names the file, line and column. */
function parseConfigText(text: string, file: string): unknown {
  // Editors on Windows may write a byte order mark; it is not JSON.
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const where = jsonErrorLocation(body, message);
    // V8 quotes the file's text after the reason; it may hold secrets, so cut it.
    const reason = message.replace(/ in JSON at position \d+.*$/s, "")
      .replace(/, (?:\.\.\.)?".*$/s, "")
      // The unexpected token may itself be a line break: keep the message on one line.
      // deno-lint-ignore no-control-regex
      .replace(/[\u0000-\u001f]/g, (char) => JSON.stringify(char).slice(1, -1));
    const at = where ? ` at line ${where.line}, column ${where.column}` : "";
    // No `cause`: the parser's own message quotes the file, and --verbose prints causes.
    throw configError(file, [{ path: ROOT_PATH, message: `invalid JSON${at}: ${reason}` }]);
  }
}

/** The largest config file read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Reads a config file's text. A missing file gives null when `optional`,
 * else CONFIG_INVALID naming `origin`; any other read error names the file.
 * Only a regular file of at most MAX_CONFIG_BYTES is read: a config that is
 * a link to /dev/zero or a FIFO must not hang the server or eat its memory.
 */
async function readConfigText(file: string, optional: boolean, origin: string) {
  const notRegular = () =>
    configError(file, [{
      path: ROOT_PATH,
      message: "not a regular file (a device, FIFO or directory); a config is a JSON file",
    }]);
  try {
    // Checked before opening: opening a FIFO would block until a writer came.
    if (!(await Deno.stat(file)).isFile) throw notRegular();
    const handle = await Deno.open(file, { read: true });
    try {
      // And again on what was opened, in case the path changed in between.
      if (!(await handle.stat()).isFile) throw notRegular();
      const bytes = new Uint8Array(MAX_CONFIG_BYTES + 1);
      let filled = 0;
      while (filled < bytes.length) {
        const n = await handle.read(bytes.subarray(filled));
        if (n === null) break;
        filled += n;
      }
      if (filled > MAX_CONFIG_BYTES) {
        throw configError(file, [{
          path: ROOT_PATH,
          message: `larger than ${MAX_CONFIG_BYTES} bytes; a config is a small JSON file`,
        }]);
      }
      return new TextDecoder().decode(bytes.subarray(0, filled));
    } finally {
      handle.close();
    }
  } catch (err) {
    if (err instanceof CoordinatorError) throw err;
    if (err instanceof Deno.errors.NotFound) {
      if (optional) return null;
      throw configError(file, [{
        path: ROOT_PATH,
        message: `config file not found (named by ${origin})`,
      }], err);
    }
    const reason = err instanceof Error ? err.message : String(err);
    throw configError(file, [{ path: ROOT_PATH, message: `cannot read: ${reason}` }], err);
  }
}

/** Resolves a user-given path: "~/" means the home directory, relative means relative to cwd. */
function resolveUserPath(path: string, sources: ConfigSources): string {
  if (sources.homeDir !== null && (path === "~" || /^~[/\\]/.test(path))) {
    return join(sources.homeDir, path.slice(1));
  }
  return isAbsolute(path) ? resolve(path) : resolve(sources.cwd, path);
}

/** The candidate files in priority order; `optional` ones are skipped when absent. */
function candidates(sources: ConfigSources) {
  const list: Array<{ file: string; optional: boolean; origin: ConfigOrigin }> = [];
  if (sources.explicitPath !== undefined) {
    if (sources.explicitPath.trim() === "") {
      throw configError(null, [{ path: "--config", message: "must not be an empty path" }]);
    }
    list.push({
      file: resolveUserPath(sources.explicitPath, sources),
      optional: false,
      origin: "--config",
    });
  }
  const fromEnv = sources.env(CONFIG_ENV_VAR);
  // An empty variable counts as unset, as shells and MCP client configs often leave it so.
  if (fromEnv !== undefined && fromEnv.trim() !== "") {
    list.push({ file: resolveUserPath(fromEnv, sources), optional: false, origin: CONFIG_ENV_VAR });
  }
  list.push({
    file: resolve(sources.projectRoot, PROJECT_CONFIG_PATH),
    optional: true,
    origin: "project",
  });
  if (sources.homeDir !== null) {
    list.push({ file: resolve(sources.homeDir, USER_CONFIG_PATH), optional: true, origin: "home" });
  }
  return list;
}

/**
 * Loads the configuration from the first source that applies: --config, the
 * environment variable, the project file, the per-user file, else defaults.
 */
export async function loadConfig(
  sources: ConfigSources,
  adapterNames: string[],
): Promise<LoadedConfig> {
  for (const { file, optional, origin } of candidates(sources)) {
    const text = await readConfigText(file, optional, origin);
    if (text === null) continue;
    const config = validateConfig(parseConfigText(text, file), file, adapterNames);
    if (config.trusted_projects !== undefined && origin !== "home") {
      throw configError(file, [{
        path: "trusted_projects",
        message: `is read only from the per-user config (~/${
          USER_CONFIG_PATH.replaceAll("\\", "/")
        }); a project cannot vouch for itself`,
      }]);
    }
    return { config, source: file, origin };
  }
  return { config: validateConfig({}, null, adapterNames), source: null, origin: "defaults" };
}

/**
 * The per-user config's `trusted_projects` (absolute, `~` expanded), read
 * even when another file is the config: it is the user's word on which
 * projects' own files to trust. Empty when there is no such file.
 */
export async function readTrustedProjects(
  sources: ConfigSources,
  adapterNames: string[],
): Promise<string[]> {
  if (sources.homeDir === null) return [];
  const file = resolve(sources.homeDir, USER_CONFIG_PATH);
  let config: Config;
  try {
    const text = await readConfigText(file, true, "home");
    if (text === null) return [];
    config = validateConfig(parseConfigText(text, file), file, adapterNames);
  } catch {
    // A broken per-user file trusts nothing; when it is the config in use,
    // loadConfig reports what is wrong with it.
    return [];
  }
  return (config.trusted_projects ?? []).map((p) =>
    resolveUserPath(p, { ...sources, cwd: sources.homeDir! })
  );
}
