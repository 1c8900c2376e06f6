/** The workflow an agent learns from the initialize result. */

/** Server instructions sent in the initialize result. */
export const INSTRUCTIONS =
  `claude-session-coordinator lets several coding sessions on this project coordinate.
Workflow:
1. sign_on first. You get an instance (claude_1, claude_2, …) and, if the last session of that instance signed off, its handoff: read it and continue from its next_steps.
2. Read session://context (or the startup prompt) to see the other active sessions, their worktrees and what they are doing; do not duplicate their work.
3. Keep your progress in your own scope "session:<your id>" (keys current_issue, status, todos) with store_data, so others can see it.
4. Claim shared work with store_data(scope "@project:claims", key = the work item, if_version 0, ttl_seconds): a VERSION_CONFLICT means someone else has it. Scopes starting with "@project:" are shared by every machine of the project.
5. Before you stop, call sign_off with a summary and next_steps (the sign-off prompt helps); it releases your instance at once.
Errors start with a stable code (NOT_SIGNED_ON, VERSION_CONFLICT, INSTANCE_TAKEN, …) followed by what to do.`;
