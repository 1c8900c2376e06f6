/**
 * What a Redis ACL user needs to run the adapter, and how a missing
 * permission is named to a person.
 *
 * The adapter needs, for its prefix P (`csc:` by default):
 *
 *     ~P*  &P*  +@read +@write +eval +evalsha +publish +subscribe +time
 *
 * - `~P*`: every key it uses starts with P (see scripts.ts).
 * - `&P*` (or just `&Pchanges`): the change channel, which every write script
 *   publishes on and the change feed subscribes to.
 * - `+@read +@write`: the commands the scripts run (ACL rules apply to the
 *   commands inside a script too), plus HMGET and SSCAN sent directly. The
 *   exact commands are in PROBE (scripts.ts), for an ACL that lists them one
 *   by one instead of by category.
 * - `+eval +evalsha`: scripts run by SHA and are loaded with EVAL whenever
 *   the server has forgotten them (a restart, SCRIPT FLUSH).
 * - `+publish +subscribe`: the change feed (`watch`).
 * - `+time` (optional): expiry follows the server's clock; without it the
 *   adapter logs a line and follows this machine's clock.
 * - `+select` (only when the URL names a database other than 0).
 *
 * Nothing else: no KEYS, SCAN, CONFIG, CLIENT, PING or INFO.
 */

/** The ACL rules a person should grant, for messages and the README. */
export function aclRules(prefix: string): string {
  return `the keys ~${prefix}*, the channel &${prefix}changes and the commands ` +
    `+@read +@write +eval +evalsha +publish +subscribe (and +time, to follow the server's ` +
    `clock; +select when the URL names a database)`;
}

/** The start-up probe's finding: commands this user may not run on our keys or channel. */
export class MissingPermissions extends Error {
  constructor(readonly commands: string[]) {
    super(`missing permissions: ${commands.join(", ")}`);
  }
}

/** Commands the adapter sends on its change channel rather than on keys. */
const CHANNEL_COMMANDS = new Set(["publish", "subscribe"]);

/**
 * Names what a MissingPermissions lacks, e.g. "it may not run publish on the
 * channel csc:changes (grant +publish and &csc:changes)".
 */
export function describeMissing(missing: MissingPermissions, prefix: string): string {
  const onKeys = missing.commands.filter((cmd) => !CHANNEL_COMMANDS.has(cmd));
  const onChannel = missing.commands.filter((cmd) => CHANNEL_COMMANDS.has(cmd));
  const grant = (cmds: string[]) => cmds.map((cmd) => `+${cmd}`).join(" ");
  const parts: string[] = [];
  if (onKeys.length > 0) {
    parts.push(
      `${onKeys.join(", ")} on its keys (grant ${grant(onKeys)}, or +@read +@write, and ` +
        `~${prefix}*)`,
    );
  }
  if (onChannel.length > 0) {
    parts.push(
      `${onChannel.join(", ")} on the channel ${prefix}changes (grant ${grant(onChannel)} and ` +
        `&${prefix}changes)`,
    );
  }
  return `it may not run ${parts.join(", nor ")}`;
}

/**
 * Names the permission a NOPERM reply is about: "+eval" for a command,
 * "~P*" for keys, "&Pchanges" for the channel; null when it cannot tell.
 */
export function permissionOf(noperm: string, prefix: string): string | null {
  const command = /'([^']+)' command/.exec(noperm);
  if (command) return `+${command[1].toLowerCase()}`;
  if (/\bchannel/i.test(noperm)) return `&${prefix}changes`;
  if (/\bkeys?\b/i.test(noperm)) return `~${prefix}*`;
  return null;
}
