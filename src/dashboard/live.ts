/**
 * The live side of the dashboard: one change feed for the whole store, and
 * one cached view per project somebody watches. A change reported by the
 * feed marks the sections that read the changed scopes; after a short
 * debounce (a tool call writes its scope and the audit log within a few
 * milliseconds) only those are reread, the snapshot is rebuilt, and it is
 * sent to the project's subscribers when it differs from the last one.
 *
 * The feed reports writes, not expiries: a crashed session's lease or a
 * reservation's TTL runs out without a word. So while anyone watches, the
 * leases are reread every `leaseCheckMs` (one listing; when the set of
 * grants changed, the board and reservations follow), and everything every
 * `refreshMs`. Nothing is sent unless something changed.
 *
 * @module
 */
import { describeError } from "../core/errors.ts";
import type { SessionContext } from "../core/session/mod.ts";
import type { Change } from "../storage/contract.ts";
import { buildSnapshot } from "./model.ts";
import { isProjectId, listProjects, projectOfScope, type ProjectSummary } from "./projects.ts";
import {
  DEFAULT_LIMITS,
  LEASE_DEPENDENT,
  leaseSetKey,
  readSections,
  SECTION_NAMES,
  type SectionLimits,
  type SectionName,
  type Sections,
  sectionsChangedBy,
} from "./sections.ts";

/** One server-sent event: its name and its JSON data. */
export interface LiveEvent {
  /** "snapshot" (a Snapshot plus `now`), "projects" (ProjectSummary[]) or "problem" ({message} or null). */
  event: "snapshot" | "projects" | "problem";
  data: string;
}

/** Options of createLive. */
export interface LiveOptions {
  /** A read-only context; its project is the one the dashboard was started for. */
  ctx: SessionContext;
  /** Whether snapshots carry the free text people write (model.ts). */
  details: boolean;
  log: (line: string) => void;
  /** How long a burst of changes is gathered before rereading (ms). */
  debounceMs?: number;
  /** How often the leases are reread for expiries (ms). */
  leaseCheckMs?: number;
  /** How often everything is reread, and the project list (ms). */
  refreshMs?: number;
  limits?: SectionLimits;
  stuckAfterMinutes?: number;
}

/** The dashboard's live data. */
export interface Live {
  /**
   * Sends `project`'s updates to `send` until the returned function is
   * called: the project list and the current snapshot at once (when known),
   * then every change.
   */
  subscribe(project: string, send: (event: LiveEvent) => void): () => void;
  /** The current snapshot of a project, as JSON with `now`. */
  snapshot(project: string): Promise<string>;
  /** True for the dashboard's own project and every project the store holds. */
  knownProject(project: string): Promise<boolean>;
  /** The store's projects. */
  projects(): Promise<ProjectSummary[]>;
  /** Stops every timer and the feed. */
  close(): void;
}

/** One watched project. */
interface View {
  ctx: SessionContext;
  sections: Partial<Sections>;
  leaseKey: string | null;
  dirty: Set<SectionName>;
  /** The last snapshot sent, as JSON without `now`. */
  body: string | null;
  problem: string | null;
  subscribers: Set<(event: LiveEvent) => void>;
  timer: ReturnType<typeof setTimeout> | null;
  running: boolean;
  stop: () => void;
}

/** Creates the live data of a dashboard; nothing runs until the first subscriber. */
export function createLive(options: LiveOptions): Live {
  const debounceMs = options.debounceMs ?? 25;
  const leaseCheckMs = options.leaseCheckMs ?? 2_000;
  const refreshMs = options.refreshMs ?? 15_000;
  const limits = options.limits ?? DEFAULT_LIMITS;
  const base = options.ctx;
  const home = base.identity.project;
  const views = new Map<string, View>();
  let unwatch: (() => void) | null = null;
  let projectTimer: ReturnType<typeof setInterval> | null = null;
  let projectList: ProjectSummary[] | null = null;
  let projectsRunning: Promise<void> | null = null;
  let projectsAgain = false;
  let closed = false;

  const ctxFor = (project: string): SessionContext => ({
    ...base,
    identity: { machine: base.identity.machine, project },
  });

  /** A snapshot's JSON with the storage clock's `now` first, stamped when sent. */
  const withNow = (body: string) => `{"now":${Math.floor(base.storage.now())},${body.slice(1)}`;

  const build = (project: string, sections: Sections) =>
    JSON.stringify(buildSnapshot(sections, {
      project,
      adapter: base.storage.name,
      leaseTtlSeconds: base.leaseTtlSeconds,
      now: base.storage.now(),
      details: options.details,
      stuckAfterMinutes: options.stuckAfterMinutes,
    }));

  function broadcast(view: View, event: LiveEvent): void {
    for (const send of [...view.subscribers]) {
      try {
        send(event);
      } catch {
        // A stream that just closed; the server unsubscribes it.
      }
    }
  }

  function mark(view: View, names: Iterable<SectionName>): void {
    for (const name of names) view.dirty.add(name);
    schedule(view);
  }

  function schedule(view: View): void {
    if (closed || view.timer !== null || view.running || view.dirty.size === 0) return;
    if (view.subscribers.size === 0) return;
    view.timer = setTimeout(() => {
      view.timer = null;
      void run(view);
    }, debounceMs);
  }

  async function run(view: View): Promise<void> {
    view.running = true;
    const names = view.dirty;
    view.dirty = new Set();
    try {
      await refresh(view, names);
      if (view.problem !== null) {
        view.problem = null;
        options.log("dashboard: reading the store works again");
        broadcast(view, { event: "problem", data: "null" });
      }
    } catch (err) {
      for (const name of names) view.dirty.add(name);
      const message = `could not read the store: ${describeError(err).split("\n")[0]}`;
      if (message !== view.problem) {
        options.log(`dashboard: ${message}`);
        broadcast(view, { event: "problem", data: JSON.stringify({ message }) });
      }
      // Retried by the next lease check, not at once: the store may be down.
      view.problem = message;
    } finally {
      view.running = false;
      if (view.problem === null) schedule(view);
    }
  }

  async function refresh(view: View, names: Set<SectionName>): Promise<void> {
    if (names.has("leases")) {
      const { leases } = await readSections(view.ctx, new Set(["leases"]), limits);
      view.sections.leases = leases;
      const key = leaseSetKey(leases!);
      if (key !== view.leaseKey) {
        view.leaseKey = key;
        for (const name of LEASE_DEPENDENT) names.add(name);
      }
      names.delete("leases");
    }
    Object.assign(view.sections, await readSections(view.ctx, names, limits, view.sections.leases));
    if (SECTION_NAMES.some((name) => view.sections[name] === undefined)) return;
    const body = build(view.ctx.identity.project, view.sections as Sections);
    if (body === view.body) return;
    view.body = body;
    broadcast(view, { event: "snapshot", data: withNow(body) });
  }

  function openView(project: string): View {
    const view: View = {
      ctx: ctxFor(project),
      sections: {},
      leaseKey: null,
      dirty: new Set(SECTION_NAMES),
      body: null,
      problem: null,
      subscribers: new Set(),
      timer: null,
      running: false,
      stop: () => {},
    };
    const leaseTimer = setInterval(() => mark(view, ["leases"]), leaseCheckMs);
    const fullTimer = setInterval(() => mark(view, SECTION_NAMES), refreshMs);
    view.stop = () => {
      clearInterval(leaseTimer);
      clearInterval(fullTimer);
      if (view.timer !== null) clearTimeout(view.timer);
      view.timer = null;
    };
    return view;
  }

  function onChange(change: Change): void {
    if ("all" in change) {
      for (const view of views.values()) mark(view, SECTION_NAMES);
      void refreshProjects();
      return;
    }
    const byProject = new Map<string, string[]>();
    for (const scope of change.scopes) {
      const project = projectOfScope(scope);
      if (project === null) continue;
      byProject.set(project, [...byProject.get(project) ?? [], scope]);
    }
    let unknown = false;
    for (const [project, scopes] of byProject) {
      if (projectList !== null && !projectList.some((p) => p.project === project)) unknown = true;
      const view = views.get(project);
      if (view) mark(view, sectionsChangedBy(view.ctx.identity, scopes));
    }
    if (unknown) void refreshProjects();
  }

  /** Rereads the project list (one at a time; a request meanwhile runs once more after). */
  function refreshProjects(): Promise<void> {
    if (projectsRunning !== null) {
      projectsAgain = true;
      return projectsRunning;
    }
    projectsRunning = (async () => {
      do {
        projectsAgain = false;
        try {
          const list = await listProjects(base.storage, home);
          const changed = JSON.stringify(list) !== JSON.stringify(projectList);
          projectList = list;
          if (changed && !closed) {
            const event: LiveEvent = { event: "projects", data: JSON.stringify(list) };
            for (const view of views.values()) broadcast(view, event);
          }
        } catch (err) {
          options.log(`dashboard: could not list the projects: ${describeError(err)}`);
        }
      } while (projectsAgain && !closed);
    })().finally(() => projectsRunning = null);
    return projectsRunning;
  }

  function startWatching(): void {
    if (unwatch !== null) return;
    unwatch = base.storage.watch(onChange);
    projectTimer = setInterval(() => void refreshProjects(), refreshMs);
  }

  function stopWatching(): void {
    unwatch?.();
    unwatch = null;
    if (projectTimer !== null) clearInterval(projectTimer);
    projectTimer = null;
  }

  return {
    subscribe(project, send) {
      if (closed) throw new Error("the dashboard is closed");
      let view = views.get(project);
      if (!view) {
        view = openView(project);
        views.set(project, view);
      }
      const v = view;
      v.subscribers.add(send);
      startWatching();
      if (projectList !== null) send({ event: "projects", data: JSON.stringify(projectList) });
      else void refreshProjects();
      if (v.body !== null) send({ event: "snapshot", data: withNow(v.body) });
      if (v.problem !== null) {
        send({ event: "problem", data: JSON.stringify({ message: v.problem }) });
      }
      schedule(v);
      return () => {
        if (!v.subscribers.delete(send) || v.subscribers.size > 0) return;
        v.stop();
        if (views.get(project) === v) views.delete(project);
        if (views.size === 0) stopWatching();
      };
    },
    async snapshot(project) {
      const view = views.get(project);
      if (view && view.body !== null && view.dirty.size === 0 && !view.running) {
        return withNow(view.body);
      }
      const sections = await readSections(ctxFor(project), new Set(SECTION_NAMES), limits);
      return withNow(build(project, sections as Sections));
    },
    async knownProject(project) {
      if (!isProjectId(project)) return false;
      if (project === home || projectList?.some((p) => p.project === project)) return true;
      await refreshProjects();
      return projectList?.some((p) => p.project === project) ?? false;
    },
    async projects() {
      await refreshProjects();
      return projectList ?? [];
    },
    close() {
      closed = true;
      for (const view of views.values()) {
        view.stop();
        view.subscribers.clear();
      }
      views.clear();
      stopWatching();
    },
  };
}
