/**
 * Aligned text tables for the admin commands' human output. Cells come from
 * the store, where any session may have written anything: control
 * characters (a newline in a task title, an escape sequence meant for the
 * reader's terminal) are replaced, so one row stays one line and nothing a
 * session wrote can drive the terminal.
 */

/** How a column is aligned; numbers read best right-aligned. */
export type Align = "left" | "right";

/** A column: its heading, alignment, and the widest its cells may be (longer ones end in "…"). */
export interface Column {
  header: string;
  align?: Align;
  max?: number;
}

/** C0 controls, DEL and C1 controls (ESC starts terminal sequences; so does U+009B). */
const CONTROL = /\p{Cc}/gu;

/** A cell as printed: control characters become spaces, and it is cut to `max` characters. */
export function cell(value: unknown, max?: number): string {
  const text = value === null || value === undefined
    ? "-"
    : (typeof value === "string" ? value : JSON.stringify(value)).replace(CONTROL, " ");
  const chars = [...text];
  return max !== undefined && chars.length > max ? chars.slice(0, max - 1).join("") + "…" : text;
}

/**
 * Renders rows under headings, each column as wide as its widest cell and
 * two spaces apart; the last column is not padded (no trailing blanks).
 *
 * @example
 * ```ts
 * table([{ header: "TASK" }, { header: "PRI", align: "right" }], [["t-1", "3"], ["t-22", "10"]]);
 * // "TASK  PRI\nt-1     3\nt-22   10"
 * ```
 */
export function table(columns: Column[], rows: unknown[][]): string {
  const cells = [
    columns.map((c) => cell(c.header)),
    ...rows.map((row) => columns.map((c, i) => cell(row[i], c.max))),
  ];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => [...r[i]].length)));
  return cells.map((row) =>
    row.map((text, i) => {
      const pad = " ".repeat(widths[i] - [...text].length);
      if (columns[i].align === "right") return pad + text;
      return i === row.length - 1 ? text : text + pad;
    }).join("  ").trimEnd()
  ).join("\n");
}
