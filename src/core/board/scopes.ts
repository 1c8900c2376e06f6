/** The board's project-wide scopes, which only the board's own tools write. */

/** Tasks, their readiness index and their dependants. */
export const TASKS_SCOPE = "@project:tasks";
/** Messages between sessions and their read receipts. */
export const MESSAGES_SCOPE = "@project:messages";
/** File reservations. */
export const RESERVATIONS_SCOPE = "@project:reservations";

/** Reserved scopes and the tools that own them. */
export const BOARD_SCOPES: Readonly<Record<string, string>> = {
  [TASKS_SCOPE]: "post_task, claim_task and update_task",
  [MESSAGES_SCOPE]: "send_message and read_messages",
  [RESERVATIONS_SCOPE]: "reserve_paths and release_paths",
};
