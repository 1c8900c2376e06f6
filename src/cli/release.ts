/**
 * `release INSTANCE --reason TEXT [--yes]`: ends a session that is stuck.
 * Its lease is deleted (its tasks in progress are ready again, its
 * reservations end), its next holder gets a handoff note saying who
 * released it and why, and the audit log gets `admin:release` with the
 * reason. The stuck process learns at its next act: NOT_SIGNED_ON, and
 * nothing it tries is written, since every write it makes is fenced on the
 * grant that is gone (src/core/admin.ts).
 *
 * It asks first, on the terminal, unless --yes; with no terminal to ask on
 * and no --yes it refuses (exit 2), so a script cannot end a session by
 * accident. Exit 1 when there is nothing to release or the answer was no.
 */
import { forceRelease, readLease } from "../core/admin.ts";
import { isSessionId } from "../core/session/mod.ts";
import { readWorkTree } from "../setup/git.ts";
import { openAdmin } from "./_admin.ts";
import { ago } from "./_format.ts";
import { type CliInput, CommandFailure, EXIT, printJson, UsageError } from "./_shared.ts";
import { cell } from "./_table.ts";

/** Runs release. */
export async function releaseCommand(input: CliInput): Promise<number> {
  const [id, ...extra] = input.args;
  if (id === undefined || extra.length > 0) {
    throw new UsageError(
      'release needs one instance: release claude_2 --reason "stuck since noon"',
    );
  }
  if (!isSessionId(id)) {
    throw new UsageError(`${JSON.stringify(id)} is not an instance id like claude_2`);
  }
  const reason = input.flags.reason?.trim();
  if (!reason) {
    throw new UsageError("release needs --reason TEXT: it goes into the audit log and the handoff");
  }
  const ask = !input.flags.yes;
  if (ask && !Deno.stdin.isTerminal()) {
    throw new UsageError(
      "release asks for confirmation on a terminal, and stdin is not one: pass --yes to release without asking",
    );
  }
  const admin = await openAdmin(input);
  try {
    const { ctx, setup } = admin;
    const lease = await readLease(ctx, id);
    if (lease === null) {
      throw new CommandFailure(
        `${id} holds no live lease in ${setup.project}: nothing to release (it signed off, or its lease expired). The sessions command lists the live ones.`,
      );
    }
    if (ask) {
      const question = `Release ${id} held by pid ${lease.pid} on machine ${
        cell(lease.machine)
      } since ${lease.since} (last seen ${ago(lease.last_seen, ctx.storage.now())}, worktree ${
        cell(lease.worktree)
      })? [y/N] `;
      if (!await confirm(question)) {
        console.error("Nothing released.");
        return EXIT.failed;
      }
    }
    // The commit the stuck session's worktree is at, when that worktree is on this machine.
    const commit = lease.machine === setup.machine
      ? (await readWorkTree(lease.worktree).catch(() => null))?.head ?? null
      : null;
    const outcome = await forceRelease(ctx, {
      sessionId: id,
      reason,
      grantId: lease.grant_id,
      commit,
      by: { machine: setup.machine, pid: Deno.pid },
    });
    if (!outcome.released) {
      const now = outcome.lease;
      throw new CommandFailure(
        now === null
          ? `${id} signed off or its lease expired meanwhile: nothing was released.`
          : `${id} changed hands meanwhile (now pid ${now.pid} on ${now.machine}, since ${now.since}): nothing was released. Run release again to end that session.`,
      );
    }
    // Grants are fencing tokens: nothing a person needs to see.
    const { grant_id: _grant, ...was } = outcome.lease;
    if (input.flags.json) {
      const { grant_id: _released, ...note } = outcome.handoff.released!;
      const handoff = { ...outcome.handoff, released: note };
      printJson({ released: id, project: setup.project, reason, was, handoff });
    } else {
      console.log(
        `Released ${id} (was pid ${was.pid} on ${cell(was.machine)}, worktree ${
          cell(was.worktree)
        }, branch ${cell(was.branch)}).\n` +
          `Its tasks in progress are ready again and its reservations ended; its next holder gets the handoff note.\n` +
          `The released process learns at its next call (NOT_SIGNED_ON; nothing it tries is written).`,
      );
    }
    return EXIT.ok;
  } finally {
    await admin.close();
  }
}

/** Asks on the terminal (the question on stderr, so stdout stays clean); true for y or yes. */
async function confirm(question: string): Promise<boolean> {
  await Deno.stderr.write(new TextEncoder().encode(question));
  const buffer = new Uint8Array(1024);
  const n = await Deno.stdin.read(buffer);
  if (n === null) return false;
  const answer = new TextDecoder().decode(buffer.subarray(0, n)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}
