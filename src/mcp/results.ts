/** Turns domain results and errors into MCP tool results. */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { CoordinatorError, describeError, ERROR_HINTS, type ErrorCode } from "../core/errors.ts";

/** A success: the same JSON as structured content and as text. */
export function toolResult(data: object): CallToolResult {
  return {
    content: [{ type: "text", text: JSON.stringify(data) }],
    structuredContent: data as Record<string, unknown>,
  };
}

/** A failure whose text begins with the stable code, then says what to do. */
export function toolError(code: ErrorCode, message: string, details: object = {}): CallToolResult {
  const body = JSON.stringify({ error: { code, message, hint: ERROR_HINTS[code], details } });
  return {
    content: [{ type: "text", text: `${code}: ${message} ${ERROR_HINTS[code]}\n${body}` }],
    isError: true,
  };
}

/** Maps anything thrown by the domain to a tool error; unexpected ones are logged. */
export function errorResult(err: unknown, log: (line: string) => void): CallToolResult {
  if (err instanceof CoordinatorError) return toolError(err.code, err.message, err.details);
  log(`internal error: ${describeError(err)}`);
  return toolError("INTERNAL_ERROR", err instanceof Error ? err.message : String(err));
}

/** Runs a handler and shapes its outcome; nothing it throws escapes. */
export async function runTool(
  fn: () => Promise<object>,
  log: (line: string) => void,
): Promise<CallToolResult> {
  try {
    return toolResult(await fn());
  } catch (err) {
    return errorResult(err, log);
  }
}
