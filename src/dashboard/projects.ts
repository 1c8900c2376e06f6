/**
 * The projects one store holds. Every scope is `<machine>:<project>:<name>`
 * or `@project:<project>:<name>`, and project ids never contain ":"
 * (setup/detect.ts), so the segment between the first two colons names the
 * project. A shared Redis or PostgreSQL may hold many; the page offers them
 * in a picker.
 *
 * @module
 */
import { PROJECT_WIDE } from "../core/scope_names.ts";
import type { StorageAdapter } from "../storage/contract.ts";

/**
 * True for a string that can be a project id: what the admin commands'
 * --project-id accepts (detect.ts builds only lower-case `owner/repo` ids,
 * but a store may hold others): not empty, at most 200 characters, no ":"
 * (the scope separator), no leading "@", no spaces or control characters.
 */
export function isProjectId(id: string): boolean {
  return id.length > 0 && id.length <= 200 && !id.includes(":") && !id.startsWith("@") &&
    !/[\s\p{Cc}]/u.test(id);
}

/** The project a full scope name belongs to, or null when it is not a project's scope. */
export function projectOfScope(scope: string): string | null {
  const first = scope.indexOf(":");
  const second = first < 0 ? -1 : scope.indexOf(":", first + 1);
  if (second < 0) return null;
  const project = scope.slice(first + 1, second);
  return isProjectId(project) ? project : null;
}

/** One project in the store. */
export interface ProjectSummary {
  project: string;
  /** True when it has live sessions (its instances scope has a key). */
  active: boolean;
}

/**
 * Every project with at least one live key, sorted by id; `always` is listed
 * even when it has none (the project the dashboard was started for).
 *
 * @example
 * ```ts
 * const projects = await listProjects(storage, "acme/widget");
 * // [{ project: "acme/gadget", active: false }, { project: "acme/widget", active: true }]
 * ```
 */
export async function listProjects(
  storage: StorageAdapter,
  always: string,
): Promise<ProjectSummary[]> {
  const found = new Map<string, boolean>([[always, false]]);
  for (const scope of await storage.listScopes()) {
    const project = projectOfScope(scope);
    if (project === null) continue;
    const active = scope === `${PROJECT_WIDE}:${project}:instances`;
    found.set(project, (found.get(project) ?? false) || active);
  }
  return [...found].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([project, active]) => ({ project, active }));
}
