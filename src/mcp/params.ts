/**
 * Tool argument schemas, ours: one small description of each argument gives
 * both the JSON Schema that tools/list shows and the validation that runs on
 * every call. Validation errors are INVALID_ARGUMENT by construction, name
 * the argument, and say what would be right ("value is required",
 * "if_version must be an integer >= 0, got -1"). JSON values are checked
 * iteratively, so no nesting depth can overflow the stack, and they are
 * handed on as they arrived: a "__proto__" key is plain data.
 *
 * @module
 */
import { invalidArgument } from "../core/errors.ts";
import { isPlainObject, type JsonValue } from "../core/json.ts";

/** Deepest JSON value accepted in an argument. */
export const MAX_JSON_DEPTH = 1000;

/** One argument's type and bounds. */
export type Param =
  | { type: "string"; description?: string; min?: number; max?: number; enum?: readonly string[] }
  | { type: "integer"; description?: string; min?: number; max?: number }
  | { type: "number"; description?: string; above?: number; max?: number }
  | { type: "boolean"; description?: string }
  | { type: "json"; description?: string }
  | { type: "array"; description?: string; items: Param; max?: number };

/** A tool's arguments: each with its Param and whether it must be given. */
export type Params = Record<string, Param & { required?: boolean }>;

/** The TypeScript type of one validated argument. */
export type ParamValue<P extends Param> = P extends { type: "string"; enum: readonly (infer E)[] }
  ? E
  : P extends { type: "string" } ? string
  : P extends { type: "integer" | "number" } ? number
  : P extends { type: "boolean" } ? boolean
  : P extends { type: "array"; items: infer I extends Param } ? ParamValue<I>[]
  : JsonValue;

/** The TypeScript type of a tool's validated arguments. */
export type Args<P extends Params> =
  & { [K in keyof P as P[K] extends { required: true } ? K : never]: ParamValue<P[K]> }
  & { [K in keyof P as P[K] extends { required: true } ? never : K]?: ParamValue<P[K]> };

/** The JSON Schema of one argument: compact, every branch a single type. */
function schemaOf(p: Param): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  switch (p.type) {
    case "json":
      // Any JSON value, one typed branch each: strict clients flag an
      // untyped schema, and a list of types in "type" is not portable.
      out.anyOf = ["object", "array", "string", "number", "boolean", "null"].map((type) => ({
        type,
      }));
      break;
    case "string":
      out.type = "string";
      if (p.enum) out.enum = p.enum;
      if (p.min !== undefined) out.minLength = p.min;
      if (p.max !== undefined) out.maxLength = p.max;
      break;
    case "integer":
      out.type = "integer";
      if (p.min !== undefined) out.minimum = p.min;
      if (p.max !== undefined) out.maximum = p.max;
      break;
    case "number":
      out.type = "number";
      if (p.above !== undefined) out.exclusiveMinimum = p.above;
      if (p.max !== undefined) out.maximum = p.max;
      break;
    case "boolean":
      out.type = "boolean";
      break;
    case "array":
      out.type = "array";
      out.items = schemaOf(p.items);
      if (p.max !== undefined) out.maxItems = p.max;
      break;
  }
  if (p.description) out.description = p.description;
  return out;
}

/** The JSON Schema of a tool's arguments (an object; unknown arguments refused). */
export function inputSchema(params: Params): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const [name, p] of Object.entries(params)) {
    properties[name] = schemaOf(p);
    if (p.required) required.push(name);
  }
  return {
    type: "object",
    properties,
    ...(required.length > 0 ? { required } : {}),
    additionalProperties: false,
  };
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  return typeof value === "number" ? String(value) : typeof value;
}

/** Checks one value against its Param; throws INVALID_ARGUMENT naming `path`. */
function check(path: string, p: Param, value: unknown): void {
  const bad = (what: string) => invalidArgument(`${path} ${what}, got ${typeName(value)}.`);
  switch (p.type) {
    case "json":
      checkJsonDepth(path, value);
      return;
    case "string": {
      if (typeof value !== "string") throw bad("must be a string");
      if (p.enum && !p.enum.includes(value)) {
        throw invalidArgument(
          `${path} must be one of ${p.enum.map((e) => JSON.stringify(e)).join(", ")}, got ${
            JSON.stringify(value.slice(0, 100))
          }.`,
        );
      }
      const length = value.length;
      if (p.min !== undefined && length < p.min) {
        throw invalidArgument(
          p.min === 1
            ? `${path} must not be empty.`
            : `${path} must be at least ${p.min} characters long.`,
        );
      }
      if (p.max !== undefined && length > p.max) {
        throw invalidArgument(`${path} must be at most ${p.max} characters long, got ${length}.`);
      }
      return;
    }
    case "integer":
      if (typeof value !== "number" || !Number.isSafeInteger(value)) {
        throw bad(
          typeof value === "number" && Number.isInteger(value)
            ? `must be an integer below 2^53 (larger ones lose precision)`
            : "must be an integer",
        );
      }
      if (p.min !== undefined && value < p.min) throw bad(`must be an integer >= ${p.min}`);
      if (p.max !== undefined && value > p.max) throw bad(`must be an integer <= ${p.max}`);
      return;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) throw bad("must be a number");
      if (p.above !== undefined && !(value > p.above)) throw bad(`must be a number > ${p.above}`);
      if (p.max !== undefined && value > p.max) throw bad(`must be a number <= ${p.max}`);
      return;
    case "boolean":
      if (typeof value !== "boolean") throw bad("must be true or false");
      return;
    case "array":
      if (!Array.isArray(value)) throw bad("must be an array");
      if (p.max !== undefined && value.length > p.max) {
        throw invalidArgument(`${path} must hold at most ${p.max} items, got ${value.length}.`);
      }
      value.forEach((item, i) => check(`${path}[${i}]`, p.items, item));
      return;
  }
}

/**
 * Refuses a JSON value nested deeper than MAX_JSON_DEPTH, walking it with an
 * explicit stack: a recursive walk (or JSON.stringify) of a value nested a
 * million levels deep would overflow the call stack.
 */
export function checkJsonDepth(path: string, value: unknown): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > MAX_JSON_DEPTH) {
      throw invalidArgument(
        `${path} is nested more than ${MAX_JSON_DEPTH} levels deep; store it flatter (or as a string).`,
      );
    }
    for (const inner of Array.isArray(v) ? v : Object.values(v)) stack.push([inner, depth + 1]);
  }
}

/**
 * Validates a tool call's arguments (absent means `{}`) and returns them
 * typed, exactly as they arrived. Unknown arguments are refused: a typo such
 * as `ifVersion` must not turn a compare-and-set into a blind write.
 */
export function validateArgs<P extends Params>(params: P, raw: unknown): Args<P> {
  const args = raw === undefined ? {} : raw;
  if (!isPlainObject(args)) {
    throw invalidArgument(`arguments must be an object, got ${typeName(args)}.`);
  }
  for (const name of Object.keys(args)) {
    if (!Object.hasOwn(params, name)) {
      const known = Object.keys(params);
      throw invalidArgument(
        `unknown argument ${JSON.stringify(name)}; ${
          known.length === 0 ? "this tool takes none" : `the arguments are ${known.join(", ")}`
        }.`,
      );
    }
  }
  for (const [name, p] of Object.entries(params)) {
    const value = args[name];
    // Some clients send null for an optional argument they leave out.
    if (value === undefined || (value === null && !p.required && p.type !== "json")) {
      if (p.required) throw invalidArgument(`${name} is required.`);
      delete args[name];
      continue;
    }
    check(name, p, value);
  }
  return args as Args<P>;
}
