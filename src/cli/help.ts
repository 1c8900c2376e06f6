/** The text of --help. */
import { describeConfigKeys } from "../setup/config.ts";
import { PACKAGE_NAME, VERSION } from "../setup/version.ts";

/** What --help prints. */
export function helpText(): string {
  const keys = describeConfigKeys()
    .map((k) => `  ${k.key.padEnd(28)} ${k.default.padEnd(24)} ${k.description}`)
    .join("\n");
  return `${PACKAGE_NAME} ${VERSION}
An MCP server that lets several AI coding sessions on one project coordinate.

Usage:
  ${PACKAGE_NAME} [--config PATH] [--project DIR]
                                   serve MCP over stdio (what MCP clients run)
  ${PACKAGE_NAME} --validate-config [--config PATH]
  ${PACKAGE_NAME} migrate --from CONFIG --to CONFIG [--overwrite]
                                   copy every scope and key (value, version, remaining TTL)
                                   from one storage to another; verifies counts; refuses to
                                   replace keys the target holds with other content unless
                                   --overwrite
  ${PACKAGE_NAME} export --to FILE.json [--config PATH]
                                   write every scope and key of the storage to a backup file
  ${PACKAGE_NAME} import FILE.json [--config PATH] [--overwrite]
                                   restore a backup file into the storage (same rule as migrate)
  ${PACKAGE_NAME} guard [--install]
                                   git pre-commit guard: refuse a commit touching files another
                                   live session reserved exclusively; --install writes the hook
                                   (shared by every worktree; an existing hook is kept)
  ${PACKAGE_NAME} --version | --help

See what your sessions are doing (no session needed; the config is found as for serving, and
--config and --project-id apply; tables, or one JSON document with --json):
  ${PACKAGE_NAME} status [--json]
                                   the project at a glance: live sessions (worktree, branch,
                                   current task, last seen, lease left, unread messages), tasks
                                   by status, reservations, storage and lease health
  ${PACKAGE_NAME} sessions [--json]
                                   every instance: live ones and free ones with a handoff
  ${PACKAGE_NAME} tasks [STATUS] [--limit N] [--json]
                                   the work board; STATUS is ready, blocked, in_progress, done
                                   or failed
  ${PACKAGE_NAME} log [--session ID] [--kind KIND] [--since TIME] [--limit N]
      [--follow] [--json]
                                   the audit log, oldest first (the newest 100 unless --limit or
                                   --since); --follow keeps printing new events until Ctrl-C
                                   (with --json: one JSON object per line)
  ${PACKAGE_NAME} release INSTANCE --reason TEXT [--yes] [--json]
                                   end a stuck session: its lease goes, its next holder gets a
                                   handoff note with the reason, the audit log records it; asks
                                   on the terminal unless --yes (no terminal and no --yes: exit 2)
  ${PACKAGE_NAME} doctor [--min-free-mb N] [--json]
                                   check the config, the storage (reachable, writable), free disk
                                   and stuck lock files of the state directory, the clock against
                                   the storage server, the pre-commit guard in every worktree;
                                   says what to do about each problem; exit 1 when it finds any
  ${PACKAGE_NAME} compact [--json]
                                   compact every log of the local state directory now
  ${PACKAGE_NAME} dashboard [--host ADDR] [--port N] [--token TOKEN]
                                   serve the web dashboard

Flags:
  --config PATH        read this config file (else $CLAUDE_SESSION_COORDINATOR_CONFIG,
                       <project>/.claude/session-coordinator-config.json,
                       ~/.config/claude-session-coordinator/config.json, built-in defaults)
  --project DIR        serve the project in DIR (default: the current directory); for
                       clients that cannot set a working directory
  --validate-config    print the merged config, the file it came from and how far it is
                       trusted; exit 0 when valid, 1 with the field errors when not
  --overwrite          migrate/import: replace keys the target already holds
  --install            guard: install the git pre-commit hook
  --json               admin commands: print one JSON document on stdout instead of tables
  --project-id ID      admin commands: look at project ID in a shared store instead of the
                       project of the current directory
  --session ID         log: only the events of instance ID (e.g. claude_2)
  --kind KIND          log: only events of this kind (store_data, lease_lost, admin:release),
                       or of every kind starting with a prefix ending in * (admin:*)
  --since TIME         log: only events since TIME, an ISO time (2026-11-30T09:00:00Z) or a
                       duration back from now (30s, 10m, 2h, 1d)
  --limit N            log: at most the N newest events; tasks: at most N tasks
  --follow             log: keep printing new events as they are appended
  --reason TEXT        release: why (required); goes into the audit log and the handoff
  --yes                release: do not ask for confirmation
  --min-free-mb N      doctor: the least free space, in MiB, the state directory's file
                       system may have (default 100)
  --host ADDR          dashboard: the address to bind to (default dashboard.host)
  --port N             dashboard: the port (default dashboard.port)
  --token TOKEN        dashboard: the token it requires (default dashboard.token)
  --verbose            log causes of errors to stderr
  --version            print the version
  --help               print this help

When serving, stdout carries JSON-RPC only; logs go to stderr. Exit codes: 0 done, 1 failed
(the error line says why; doctor found a problem; release refused; the storage cannot be
reached), 2 the command line is wrong.

Permissions (deno run): every command needs the server's flags (--allow-read, --allow-write,
--allow-env=..., --allow-run=git, --allow-sys=hostname), plus --allow-net=HOST:PORT for Redis or
PostgreSQL. The admin commands write nothing but: release (the lease, the handoff, the audit
event), compact (the logs, the audit event) and doctor (one probe key, deleted at once). doctor
also needs --allow-sys=hostname,statfs to check free disk (else it skips that check).

Config keys:
${keys}
`;
}
