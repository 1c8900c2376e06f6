/** Every tool of the public API, in the order tools/list shows them. */
import type { ToolDefinition } from "../tool.ts";
import {
  deleteDataTool,
  deleteScopeTool,
  listKeysTool,
  listScopesTool,
  retrieveDataTool,
  storeDataTool,
} from "./data.ts";
import { signOffTool, signOnTool } from "./session.ts";
import { waitTool } from "./wait.ts";
import {
  claimTaskTool,
  listTasksTool,
  postTaskTool,
  readMessagesTool,
  releasePathsTool,
  reservePathsTool,
  sendMessageTool,
  updateTaskTool,
} from "./board.ts";

/** The tools, in order. */
export const TOOLS: readonly ToolDefinition[] = [
  signOnTool,
  signOffTool,
  storeDataTool,
  retrieveDataTool,
  deleteDataTool,
  deleteScopeTool,
  listKeysTool,
  listScopesTool,
  postTaskTool,
  claimTaskTool,
  updateTaskTool,
  listTasksTool,
  sendMessageTool,
  readMessagesTool,
  reservePathsTool,
  releasePathsTool,
  waitTool,
];

/** The tool names, in order. */
export const TOOL_NAMES: readonly string[] = TOOLS.map((t) => t.name);
