/** The work board's tools: tasks, messages and file reservations. */
import { liveSession } from "../../core/session/mod.ts";
import { claimTask, listTasks, postTask, updateTask } from "../../core/board/tasks.ts";
import { readMessages, sendMessage } from "../../core/board/messages.ts";
import { releasePaths, reservePaths } from "../../core/board/reservations.ts";
import { defineTool, READ, WRITE } from "../tool.ts";
import { ttlSeconds } from "./_shared.ts";

const taskId = { type: "string", min: 1, max: 200 } as const;
const ids = (description: string) =>
  ({ type: "array", items: taskId, max: 100, description }) as const;
const labelList = {
  type: "array",
  items: { type: "string", min: 1, max: 64 },
  max: 20,
} as const;
const STATUSES = ["ready", "blocked", "in_progress", "done", "failed"] as const;

/** post_task. */
export const postTaskTool = defineTool({
  name: "post_task",
  title: "Post a task",
  description:
    "Add a task to the project's shared board. status is ready, or blocked until every depends_on task is done (then it becomes ready by itself). Reposting the same task_id with the same content is a no-op; other content is VERSION_CONFLICT.",
  params: {
    title: { type: "string", min: 1, max: 500, required: true },
    description: { type: "string", max: 20_000 },
    depends_on: ids("task ids that must be done first"),
    labels: labelList,
    priority: {
      type: "integer",
      min: -1_000_000,
      max: 1_000_000,
      description: "higher first; default 0",
    },
    task_id: { ...taskId, description: "your own id; default a generated one" },
  },
  annotations: { ...WRITE, idempotentHint: true },
  run: (a, { ctx, binding }) =>
    postTask(ctx, binding, {
      title: a.title,
      description: a.description,
      dependsOn: a.depends_on,
      labels: a.labels,
      priority: a.priority,
      taskId: a.task_id,
    }),
});

/** claim_task. */
export const claimTaskTool = defineTool({
  name: "claim_task",
  title: "Claim a task",
  description:
    "Take a task to work on: the named one, or the best ready one (priority, then oldest; optionally with one of labels). Exactly one claimer wins. The claim lives as long as your session: if you stop without finishing, the task becomes ready again. Keep fencing_token and pass it to update_task. task null means nothing is ready (blocked and in_progress say why). TASK_TAKEN: another session holds it.",
  params: {
    task_id: taskId,
    labels: { ...labelList, description: "only tasks with one of these labels" },
  },
  annotations: WRITE,
  run: (a, { ctx, binding }) => claimTask(ctx, binding, { taskId: a.task_id, labels: a.labels }),
});

/** update_task. */
export const updateTaskTool = defineTool({
  name: "update_task",
  title: "Update your task",
  description:
    "Report on a task you hold: add a note, and/or set status done (its dependants become ready), failed, ready (give it back) or in_progress. Only the holder may. STALE_CLAIM: your claim ended (your session lost its lease); stop and claim again.",
  params: {
    task_id: { ...taskId, required: true },
    status: { type: "string", enum: ["in_progress", "done", "failed", "ready"] },
    note: { type: "string", min: 1, max: 4_000 },
    fencing_token: { type: "integer", min: 0, description: "from claim_task" },
  },
  annotations: WRITE,
  run: (a, { ctx, binding }) =>
    updateTask(ctx, binding, {
      taskId: a.task_id,
      status: a.status,
      note: a.note,
      fencingToken: a.fencing_token,
    }),
});

/** list_tasks. */
export const listTasksTool = defineTool({
  name: "list_tasks",
  title: "List tasks",
  description:
    "The board: tasks with status (ready, blocked, in_progress, done, failed), owner, depends_on, priority, attempts, plus counts. Filter by status, owner, label; task_id gives one task whole, with notes and history.",
  params: {
    status: { type: "string", enum: STATUSES },
    owner: { type: "string", min: 1, max: 64 },
    label: { type: "string", min: 1, max: 64 },
    task_id: taskId,
    limit: { type: "integer", min: 1, max: 1000, description: "default 100" },
  },
  annotations: READ,
  run: async (a, { ctx, binding }) => {
    await liveSession(ctx, binding);
    return listTasks(ctx, {
      status: a.status,
      owner: a.owner,
      label: a.label,
      taskId: a.task_id,
      limit: a.limit,
    });
  },
});

/** send_message. */
export const sendMessageTool = defineTool({
  name: "send_message",
  title: "Send a message",
  description:
    'Tell another session something: to an instance ("claude_2"; it waits for whoever signs on as it next) or "all". thread: the message_id you answer.',
  params: {
    to: { type: "string", min: 1, max: 64, required: true },
    body: { type: "string", min: 1, max: 65_536, required: true },
    subject: { type: "string", max: 200 },
    thread: { type: "string", max: 64 },
  },
  annotations: WRITE,
  run: (a, { ctx, binding }) =>
    sendMessage(ctx, binding, { to: a.to, body: a.body, subject: a.subject, thread: a.thread }),
});

/** read_messages. */
export const readMessagesTool = defineTool({
  name: "read_messages",
  title: "Read messages",
  description:
    "Your messages (to your instance or to all), oldest first; each is delivered once: reading marks it read. Read them at the start of each turn.",
  params: {
    unread_only: { type: "boolean", description: "default true" },
    mark_read: { type: "boolean", description: "default true" },
    limit: { type: "integer", min: 1, max: 500, description: "default 50" },
  },
  annotations: WRITE,
  run: (a, { ctx, binding }) =>
    readMessages(ctx, binding, {
      unreadOnly: a.unread_only,
      markRead: a.mark_read,
      limit: a.limit,
    }),
});

/** reserve_paths. */
export const reservePathsTool = defineTool({
  name: "reserve_paths",
  title: "Reserve files",
  description:
    'Say "I am editing these": globs relative to the repository root ("src/auth/**", "README.md"). All or nothing: PATHS_RESERVED names each conflict, its holder and until when. Held by your session unless ttl_seconds is given. The git pre-commit guard refuses others\' commits to exclusively reserved files.',
  params: {
    paths: {
      type: "array",
      items: { type: "string", min: 1, max: 512 },
      max: 100,
      required: true,
    },
    exclusive: { type: "boolean", description: "default true; false = shared" },
    reason: { type: "string", max: 500 },
    ttl_seconds: ttlSeconds,
  },
  annotations: WRITE,
  run: (a, { ctx, binding }) =>
    reservePaths(ctx, binding, {
      paths: a.paths,
      exclusive: a.exclusive,
      reason: a.reason,
      ttlSeconds: a.ttl_seconds,
    }),
});

/** release_paths. */
export const releasePathsTool = defineTool({
  name: "release_paths",
  title: "Release files",
  description: "Release your reservations: the given paths, or all of yours.",
  params: { paths: { type: "array", items: { type: "string", min: 1, max: 512 }, max: 100 } },
  annotations: { ...WRITE, idempotentHint: true },
  run: (a, { ctx, binding }) => releasePaths(ctx, binding, { paths: a.paths }),
});
