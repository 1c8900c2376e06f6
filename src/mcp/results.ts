/** Turns domain results and errors into MCP tool results. */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { CoordinatorError, describeError, ERROR_HINTS, type ErrorCode } from "../core/errors.ts";
import { redactText } from "../core/redact.ts";

/** A success: the same JSON as structured content and as text. */
export function toolResult(data: object): CallToolResult {
  return {
    content: [{ type: "text", text: JSON.stringify(data) }],
    structuredContent: data as Record<string, unknown>,
  };
}

/**
 * A failure whose text begins with the stable code, then says what to do.
 * Credentials that a message may quote (a URL with a password) are hidden.
 */
export function toolError(code: ErrorCode, message: string, details: object = {}): CallToolResult {
  const safe = redactText(message);
  const body = JSON.stringify({
    error: { code, message: safe, hint: ERROR_HINTS[code], details: redactDetails(details) },
  });
  return {
    content: [{ type: "text", text: `${code}: ${safe} ${ERROR_HINTS[code]}\n${body}` }],
    isError: true,
  };
}

function redactDetails(details: object): object {
  return JSON.parse(redactText(JSON.stringify(details)));
}

/** Maps anything thrown by the domain to a tool error; unexpected ones are logged. */
export function errorResult(err: unknown, log: (line: string) => void): CallToolResult {
  if (err instanceof CoordinatorError) return toolError(err.code, err.message, err.details);
  log(`internal error: ${redactText(describeError(err))}`);
  return toolError("INTERNAL_ERROR", err instanceof Error ? err.message : String(err));
}
