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
  --verbose            log causes of errors to stderr
  --version            print the version
  --help               print this help

stdout carries JSON-RPC only; logs go to stderr. Exit codes: 0 done, 1 failed (the error
line says why), 2 the command line is wrong.

Config keys:
${keys}
`;
}
