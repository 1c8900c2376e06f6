/**
 * The dependency graph's layout: a small layered drawing (the Sugiyama
 * scheme without its long-edge dummies), computed on the server so the page
 * only draws boxes and curves.
 *
 * - Which tasks: all of them on a small board; on a big one only the open
 *   ones (a finished task no longer constrains anything), capped at
 *   `maxNodes` around the work going on (nearActiveWork), and of those
 *   only tasks with an edge: an independent task
 *   says nothing a graph could show, and a column of a hundred of them
 *   would push the real structure off the screen.
 * - Layers: a task sits one layer right of its deepest dependency.
 * - Rows: a few barycenter sweeps (each node moves towards the mean row of
 *   its neighbours) reduce crossings; then each layer is placed top-down at
 *   its neighbours' mean row, never closer than one row to the node above.
 *
 * @module
 */

/** What the layout needs of a task. */
export interface GraphTask {
  task_id: string;
  depends_on: readonly string[];
  status: string;
}

/** A drawn task: its column (`layer`) and its row, in grid units (rows may be fractional). */
export interface GraphNode {
  id: string;
  layer: number;
  row: number;
}

/** The layout the page draws. */
export interface GraphLayout {
  nodes: GraphNode[];
  /** `[dependency, dependant]`: the arrow points at the task that waits. */
  edges: [string, string][];
  /** Columns used. */
  layers: number;
  /** Rows used (the lowest row plus one). */
  rows: number;
  /** "all" tasks or only the "open" ones were considered. */
  considered: "all" | "open";
  /** Tasks considered but not drawn because they have no edge. */
  independent: number;
  /** Tasks left out by the cap. */
  capped: number;
}

/** Options of layoutGraph. */
export interface GraphOptions {
  /** Up to this many tasks, done ones are drawn too. */
  allUpTo?: number;
  /** At most this many tasks are considered. */
  maxNodes?: number;
}

/** Which open tasks to keep first when the cap bites: the ones someone acts on now. */
const KEEP_FIRST: Record<string, number> = {
  in_progress: 0,
  failed: 1,
  ready: 2,
  blocked: 3,
  done: 4,
};
const SWEEPS = 4;

/**
 * Lays out the dependency graph of `tasks`.
 *
 * @example
 * ```ts
 * const g = layoutGraph([
 *   { task_id: "a", depends_on: [], status: "done" },
 *   { task_id: "b", depends_on: ["a"], status: "ready" },
 * ]);
 * // g.nodes: a in layer 0, b in layer 1; g.edges: [["a", "b"]]
 * ```
 */
export function layoutGraph(tasks: readonly GraphTask[], options: GraphOptions = {}): GraphLayout {
  const allUpTo = options.allUpTo ?? 60;
  const maxNodes = options.maxNodes ?? 150;
  const considered = tasks.length <= allUpTo ? "all" : "open";
  let picked = considered === "all" ? [...tasks] : tasks.filter((t) => t.status !== "done");
  let capped = 0;
  if (picked.length > maxNodes) {
    capped = picked.length - maxNodes;
    picked = nearActiveWork(picked, maxNodes);
  }
  const inSet = new Set(picked.map((t) => t.task_id));
  const edges: [string, string][] = [];
  for (const t of picked) {
    for (const d of new Set(t.depends_on)) {
      if (inSet.has(d) && d !== t.task_id) edges.push([d, t.task_id]);
    }
  }
  const linked = new Set(edges.flat());
  const drawn = picked.filter((t) => linked.has(t.task_id));
  const independent = picked.length - drawn.length;

  const deps = new Map<string, string[]>(drawn.map((t) => [t.task_id, []]));
  const dependants = new Map<string, string[]>(drawn.map((t) => [t.task_id, []]));
  for (const [from, to] of edges) {
    deps.get(to)!.push(from);
    dependants.get(from)!.push(to);
  }

  const layerOf = assignLayers(drawn.map((t) => t.task_id), deps);
  const layerCount = drawn.length === 0 ? 0 : Math.max(...layerOf.values()) + 1;
  const layers: string[][] = Array.from({ length: layerCount }, () => []);
  for (const t of drawn) layers[layerOf.get(t.task_id)!].push(t.task_id);

  orderLayers(layers, deps, dependants);
  const rowOf = placeRows(layers, deps, dependants);

  const nodes = drawn.map((t) => ({
    id: t.task_id,
    layer: layerOf.get(t.task_id)!,
    row: rowOf.get(t.task_id)!,
  }));
  const rows = nodes.length === 0 ? 0 : Math.max(...nodes.map((n) => n.row)) + 1;
  return { nodes, edges, layers: layerCount, rows, considered, independent, capped };
}

/**
 * At most `max` tasks, chosen around the work going on: the tasks in
 * progress, failed and ready first, then, breadth first, the tasks linked
 * to those, so what is kept stays connected. Keeps the input's order.
 */
function nearActiveWork(tasks: readonly GraphTask[], max: number): GraphTask[] {
  const ids = new Set(tasks.map((t) => t.task_id));
  const links = new Map<string, string[]>(tasks.map((t) => [t.task_id, []]));
  for (const t of tasks) {
    for (const d of t.depends_on) {
      if (!ids.has(d) || d === t.task_id) continue;
      links.get(t.task_id)!.push(d);
      links.get(d)!.push(t.task_id);
    }
  }
  const seeds = tasks.map((t, i) => ({ t, i }))
    .sort((a, b) => (KEEP_FIRST[a.t.status] ?? 5) - (KEEP_FIRST[b.t.status] ?? 5) || a.i - b.i)
    .map(({ t }) => t.task_id);
  const keep = new Set<string>();
  const status = new Map(tasks.map((t) => [t.task_id, t.status]));
  let frontier = seeds.filter((id) => status.get(id) !== "blocked" && status.get(id) !== "done");
  while (frontier.length > 0 && keep.size < max) {
    const next: string[] = [];
    for (const id of frontier) {
      if (keep.size >= max) break;
      if (keep.has(id)) continue;
      keep.add(id);
      next.push(...links.get(id)!);
    }
    frontier = next;
  }
  for (const id of seeds) {
    if (keep.size >= max) break;
    keep.add(id);
  }
  return tasks.filter((t) => keep.has(t.task_id));
}

/**
 * The layer of each node: one right of its deepest dependency. Iterative,
 * so a long chain cannot overflow the stack; a cycle (which the board never
 * stores, but a hand-edited store could) is cut where it closes.
 */
function assignLayers(ids: string[], deps: Map<string, string[]>): Map<string, number> {
  const layer = new Map<string, number>();
  const onPath = new Set<string>();
  for (const start of ids) {
    if (layer.has(start)) continue;
    const stack: { id: string; next: number }[] = [{ id: start, next: 0 }];
    onPath.add(start);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const list = deps.get(top.id) ?? [];
      if (top.next < list.length) {
        const d = list[top.next++];
        if (!layer.has(d) && !onPath.has(d)) {
          onPath.add(d);
          stack.push({ id: d, next: 0 });
        }
        continue;
      }
      let depth = 0;
      for (const d of list) {
        const l = layer.get(d);
        if (l !== undefined) depth = Math.max(depth, l + 1);
      }
      layer.set(top.id, depth);
      onPath.delete(top.id);
      stack.pop();
    }
  }
  return layer;
}

/** Barycenter sweeps, left to right then right to left, to reduce crossings. */
function orderLayers(
  layers: string[][],
  deps: Map<string, string[]>,
  dependants: Map<string, string[]>,
): void {
  const position = new Map<string, number>();
  const index = () => layers.forEach((layer) => layer.forEach((id, i) => position.set(id, i)));
  index();
  const sortBy = (layer: string[], neighbours: Map<string, string[]>) => {
    const key = new Map(layer.map((id, i) => {
      const ns = (neighbours.get(id) ?? []).map((n) => position.get(n)!);
      return [id, ns.length === 0 ? i : ns.reduce((a, b) => a + b, 0) / ns.length];
    }));
    // Stable: ties keep their order, so a redraw of the same board looks the same.
    layer.sort((a, b) => key.get(a)! - key.get(b)!);
    layer.forEach((id, i) => position.set(id, i));
  };
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    for (let l = 1; l < layers.length; l++) sortBy(layers[l], deps);
    for (let l = layers.length - 2; l >= 0; l--) sortBy(layers[l], dependants);
  }
}

/**
 * Rows: every node starts at its index in its layer; then, a few times,
 * each layer in turn (left to right, then right to left) is moved towards
 * the mean row of each node's neighbours, keeping its order and one row
 * between nodes (pack). Rows are rounded to halves at the end.
 */
function placeRows(
  layers: string[][],
  deps: Map<string, string[]>,
  dependants: Map<string, string[]>,
): Map<string, number> {
  const row = new Map<string, number>();
  for (const layer of layers) layer.forEach((id, i) => row.set(id, i));
  const settle = (layer: string[]) => {
    const desired = layer.map((id) => {
      const ns = [...deps.get(id) ?? [], ...dependants.get(id) ?? []].map((n) => row.get(n)!);
      return ns.length === 0 ? row.get(id)! : ns.reduce((a, b) => a + b, 0) / ns.length;
    });
    pack(desired).forEach((r, i) => row.set(layer[i], r));
  };
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    for (let l = 1; l < layers.length; l++) settle(layers[l]);
    for (let l = layers.length - 2; l >= 0; l--) settle(layers[l]);
  }
  const top = Math.min(...row.values());
  for (const [id, r] of row) row.set(id, Math.round((r - top) * 2) / 2);
  return row;
}

/**
 * Positions as close as possible (least squares) to `desired`, in the same
 * order, at least 1 apart and not below 0: with z_i = y_i - i the spacing
 * becomes "z never decreases", which pooling adjacent violators solves
 * exactly in one pass.
 *
 * @example
 * ```ts
 * pack([0, 0, 5]); // [0, 1, 5]
 * ```
 */
export function pack(desired: readonly number[]): number[] {
  const blocks: { sum: number; n: number }[] = [];
  desired.forEach((d, i) => {
    blocks.push({ sum: d - i, n: 1 });
    while (blocks.length > 1) {
      const b = blocks[blocks.length - 1], a = blocks[blocks.length - 2];
      if (a.sum / a.n <= b.sum / b.n) break;
      blocks.pop();
      a.sum += b.sum;
      a.n += b.n;
    }
  });
  const out: number[] = [];
  for (const b of blocks) {
    const z = Math.max(0, b.sum / b.n);
    for (let k = 0; k < b.n; k++) out.push(z + out.length);
  }
  return out;
}
