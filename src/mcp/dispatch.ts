/**
 * tools/list and tools/call over the tool definitions: the listing is built
 * once, and a call is validated against our own argument schemas and run,
 * so every failure (unknown tool, bad arguments, domain errors) comes back
 * as a tool error whose text starts with its stable code.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { inputSchema, validateArgs } from "./params.ts";
import { errorResult, toolError, toolResult } from "./results.ts";
import type { ToolDefinition, ToolSession } from "./tool.ts";

/** The tools of one server, ready to list and call. */
export interface ToolTable {
  /** The tools/list result (the same object every time). */
  list: { tools: Record<string, unknown>[] };
  /** Runs tools/call; never throws. */
  call(name: unknown, args: unknown, session: ToolSession): Promise<CallToolResult>;
}

/** Builds the table for the given tools. */
export function createToolTable(
  tools: readonly ToolDefinition[],
  log: (line: string) => void,
): ToolTable {
  const byName = new Map(tools.map((t) => [t.name, t]));
  const names = tools.map((t) => t.name).join(", ");
  const list = {
    tools: tools.map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      inputSchema: inputSchema(t.params),
      annotations: t.annotations,
    })),
  };
  return {
    list,
    async call(name, args, session) {
      const tool = typeof name === "string" ? byName.get(name) : undefined;
      if (tool === undefined) {
        return toolError(
          "INVALID_ARGUMENT",
          `unknown tool ${JSON.stringify(name)}; the tools are ${names}.`,
        );
      }
      try {
        return toolResult(await tool.run(validateArgs(tool.params, args), session));
      } catch (err) {
        return errorResult(err, log);
      }
    },
  };
}
