/**
 * How the names agents use map to full scopes. Agents pass relative scopes;
 * the server prefixes them with `machine:project`:
 *
 * - `tasks`                   → `{machine}:{project}:tasks` (this machine)
 * - `@project:tasks`          → `@project:{project}:tasks` (every machine of the project)
 * - `@machine:laptop:tasks`   → `laptop:{project}:tasks` (another machine's scope)
 *
 * Machine ids never contain `@` (detect.ts normalizes them), so a full scope
 * starting with `@project:` can only be project-wide: the forms never collide.
 */
import { invalidArgument } from "./errors.ts";
import { type Scope, validateScope } from "./scope.ts";

/** Where this server runs: the two parts of every scope prefix. */
export interface ProjectIdentity {
  machine: string;
  project: string;
}

/** The machine segment of project-wide scopes. */
export const PROJECT_WIDE = "@project";
const MACHINE_PREFIX = "@machine:";
const MACHINE_ID = /^[a-z0-9._-]{1,64}$/;

/** The `machine:project:` prefix of this machine's scopes. */
export function scopePrefix(id: ProjectIdentity): string {
  return `${id.machine}:${id.project}:`;
}

/** Turns a relative scope as an agent writes it into the full stored scope. */
export function resolveScope(id: ProjectIdentity, relative: unknown): Scope {
  if (typeof relative !== "string" || relative.length === 0) {
    throw invalidArgument('scope must be a non-empty string such as "session:claude_1".');
  }
  let full: string;
  if (relative.startsWith(PROJECT_WIDE + ":")) {
    full = `${PROJECT_WIDE}:${id.project}:${rest(relative.slice(PROJECT_WIDE.length + 1))}`;
  } else if (relative.startsWith(MACHINE_PREFIX)) {
    const after = relative.slice(MACHINE_PREFIX.length);
    const colon = after.indexOf(":");
    const machine = colon < 0 ? after : after.slice(0, colon);
    if (!MACHINE_ID.test(machine) || colon < 0) {
      throw invalidArgument(
        `scope ${
          JSON.stringify(relative)
        }: write another machine's scope as "@machine:<machine-id>:<scope>".`,
      );
    }
    full = `${machine}:${id.project}:${rest(after.slice(colon + 1))}`;
  } else if (relative.startsWith("@")) {
    throw invalidArgument(
      `scope ${
        JSON.stringify(relative)
      }: only "@project:" and "@machine:<id>:" may start with "@".`,
    );
  } else {
    full = scopePrefix(id) + relative;
  }
  return validateScope(full);
}

function rest(part: string): string {
  if (part.length === 0) throw invalidArgument("scope needs a name after the prefix.");
  // "@machine:laptop:@project:x" would be stored under laptop's name but read
  // back as "@project:x", another scope: one prefix per name.
  if (part.startsWith("@")) {
    throw invalidArgument(
      `scope name ${
        JSON.stringify(part)
      } after a prefix must not start with "@": write "@project:<name>" or "@machine:<id>:<name>", not both.`,
    );
  }
  return part;
}

/**
 * The relative name under which an agent sees a full scope, or null when the
 * scope belongs to another project. Inverse of resolveScope.
 */
export function relativeScope(id: ProjectIdentity, full: string): string | null {
  const first = full.indexOf(":");
  if (first < 0) return null;
  const machine = full.slice(0, first);
  const projectPart = `${id.project}:`;
  if (!full.startsWith(projectPart, first + 1)) return null;
  const name = full.slice(first + 1 + projectPart.length);
  // Names resolveScope refuses (written by an older version) would read back as another scope.
  if (name.length === 0 || name.startsWith("@")) return null;
  if (machine === PROJECT_WIDE) return `${PROJECT_WIDE}:${name}`;
  if (machine === id.machine) return name;
  return MACHINE_ID.test(machine) ? `${MACHINE_PREFIX}${machine}:${name}` : null;
}

/** The glob that selects every scope of the project, on every machine. */
export function projectScopesGlob(id: ProjectIdentity): string {
  return `*:${id.project.replace(/[*?[]/g, "[$&]")}:*`;
}
