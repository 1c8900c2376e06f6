/**
 * Deep equality of JSON values without recursion: the fuzz test stores
 * values nested thousands of levels deep, and a recursive comparison (such
 * as node:assert's deepEqual) can overflow the stack on them, failing the
 * test for a reason outside the server.
 */
import assert from "node:assert/strict";

/** True when two JSON values are equal (same types, same members, any depth). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  const stack: [unknown, unknown][] = [[a, b]];
  while (stack.length > 0) {
    const [x, y] = stack.pop()!;
    if (x === y) continue;
    if (typeof x !== "object" || typeof y !== "object" || x === null || y === null) return false;
    if (Array.isArray(x) !== Array.isArray(y)) return false;
    if (Array.isArray(x)) {
      const ya = y as unknown[];
      if (x.length !== ya.length) return false;
      for (let i = 0; i < x.length; i++) stack.push([x[i], ya[i]]);
      continue;
    }
    const xo = x as Record<string, unknown>, yo = y as Record<string, unknown>;
    const keys = Object.keys(xo);
    if (keys.length !== Object.keys(yo).length) return false;
    for (const k of keys) {
      if (!Object.hasOwn(yo, k)) return false;
      stack.push([xo[k], yo[k]]);
    }
  }
  return true;
}

/** Asserts two JSON values are equal, with `message` when they are not. */
export function assertJsonEqual(actual: unknown, expected: unknown, message: string): void {
  if (jsonEqual(actual, expected)) return;
  const show = (v: unknown) => {
    try {
      const text = JSON.stringify(v) ?? String(v);
      return text.length > 500 ? `${text.slice(0, 500)}…` : text;
    } catch {
      return "(too deep to show)";
    }
  };
  assert.fail(`${message}: ${show(actual)} !== ${show(expected)}`);
}
