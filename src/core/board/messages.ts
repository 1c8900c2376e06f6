/**
 * Messages between sessions. A message is addressed to an instance
 * (`claude_2`: it waits for whoever signs on as it next) or to `all` (every
 * instance but the sender). Each reader instance marks a message read by
 * creating a receipt with compare-and-set, in one batch for all it reads, so
 * a message is delivered to a reader once even when several calls or
 * processes read at once.
 *
 * Keys of `@project:messages`:
 * - `m:<to>:<id>`          the message; the id sorts by sending time.
 * - `rcpt:<reader>:<id>`   the reader's receipt.
 *
 * Retention (so an inbox never grows without bound): a message and its
 * receipts expire 30 days after sending; a direct message expires 7 days
 * after its addressee read it; and an inbox keeps at most 1,000 messages:
 * sending one more drops the oldest.
 *
 * @module
 */
import { invalidArgument, isCoordinatorError } from "../errors.ts";
import type { JsonObject } from "../json.ts";
import { isPlainObject } from "../json.ts";
import { resolveScope } from "../scope_names.ts";
import type { BatchOp } from "../../storage/contract.ts";
import { isGuardFailure } from "../../storage/values.ts";
import {
  asOwner,
  iso,
  isSessionId,
  type SessionBinding,
  type SessionContext,
} from "../session/mod.ts";
import { MESSAGES_SCOPE } from "./scopes.ts";
import { randomHex } from "../random.ts";

/** A message as stored and as read_messages returns it (plus `read`). */
export interface Message {
  message_id: string;
  from: string;
  to: string;
  subject: string | null;
  body: string;
  thread: string | null;
  sent_at: string;
}

/** How long a message is kept after sending. */
export const MESSAGE_TTL_SECONDS = 30 * 24 * 3600;
/** How long a direct message is kept after its addressee read it. */
export const READ_MESSAGE_TTL_SECONDS = 7 * 24 * 3600;
/** Most messages one inbox keeps. */
export const MAX_INBOX = 1000;
const BROADCAST = "all";

function scopeOf(ctx: SessionContext): string {
  return resolveScope(ctx.identity, MESSAGES_SCOPE);
}

function newMessageId(nowMs: number): string {
  const rand = randomHex(3);
  // Sorts by sending time: 11 base-36 digits cover the next few thousand years.
  return `${Math.floor(nowMs).toString(36).padStart(11, "0")}-${rand}`;
}

function asMessage(value: unknown): Message | null {
  return isPlainObject(value) && typeof value.message_id === "string" &&
      typeof value.body === "string"
    ? value as unknown as Message
    : null;
}

/** Sends a message (send_message). */
export async function sendMessage(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { to: string; body: string; subject?: string; thread?: string },
): Promise<{ message_id: string; to: string; sent_at: string }> {
  if (args.to !== BROADCAST && !isSessionId(args.to)) {
    throw invalidArgument(
      `to must be an instance id such as "claude_2", or "all"; got ${JSON.stringify(args.to)}.`,
    );
  }
  const scope = scopeOf(ctx);
  return await asOwner(ctx, binding, async (guard, held) => {
    if (args.to === held.sessionId) {
      throw invalidArgument("to is your own instance; send it to another instance or to all.");
    }
    const now = ctx.storage.now();
    const message: Message = {
      message_id: newMessageId(now),
      from: held.sessionId,
      to: args.to,
      subject: args.subject ?? null,
      body: args.body,
      thread: args.thread ?? null,
      sent_at: iso(now),
    };
    const inbox = await ctx.storage.listKeys(scope, { prefix: `m:${args.to}:` });
    const ops: BatchOp[] = [{
      op: "set",
      key: `m:${args.to}:${message.message_id}`,
      value: message as unknown as JsonObject,
      ttlSeconds: MESSAGE_TTL_SECONDS,
    }];
    // Oldest first: the keys sort by sending time.
    for (const key of inbox.slice(0, Math.max(0, inbox.length + 1 - MAX_INBOX))) {
      ops.push({ op: "delete", key });
    }
    await ctx.storage.writeBatch(scope, ops, { updatedBy: held.sessionId, guard });
    return { message_id: message.message_id, to: message.to, sent_at: message.sent_at };
  });
}

/** Messages for `reader`: to it or to all (not its own broadcasts), oldest first, with read state. */
export async function inboxOf(
  ctx: SessionContext,
  reader: string,
): Promise<{ key: string; message: Message; read: boolean }[]> {
  const scope = scopeOf(ctx);
  const [direct, broadcast, receipts] = await Promise.all([
    ctx.storage.listEntries(scope, { prefix: `m:${reader}:` }),
    ctx.storage.listEntries(scope, { prefix: `m:${BROADCAST}:` }),
    ctx.storage.listKeys(scope, { prefix: `rcpt:${reader}:` }),
  ]);
  const read = new Set(receipts.map((k) => k.slice(`rcpt:${reader}:`.length)));
  return [...direct, ...broadcast]
    .map(({ key, entry }) => ({ key, message: asMessage(entry.value) }))
    .filter((m): m is { key: string; message: Message } =>
      m.message !== null && m.message.from !== reader
    )
    .map((m) => ({ ...m, read: read.has(m.message.message_id) }))
    .sort((a, b) => a.message.message_id < b.message.message_id ? -1 : 1);
}

/** How many unread messages wait for an instance (views; no session needed). */
export async function unreadCount(ctx: SessionContext, reader: string): Promise<number> {
  return (await inboxOf(ctx, reader)).filter((m) => !m.read).length;
}

/** Reads this session's messages, marking them read (read_messages). */
export async function readMessages(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { unreadOnly?: boolean; markRead?: boolean; limit?: number },
): Promise<{ messages: (Message & { read: boolean })[]; unread_left: number }> {
  const unreadOnly = args.unreadOnly ?? true;
  const markRead = args.markRead ?? true;
  const limit = args.limit ?? 50;
  const scope = scopeOf(ctx);
  return await asOwner(ctx, binding, async (guard, held) => {
    for (let attempt = 0;; attempt++) {
      const all = await inboxOf(ctx, held.sessionId);
      const picked = all.filter((m) => !unreadOnly || !m.read).slice(0, limit);
      const fresh = picked.filter((m) => !m.read);
      if (markRead && fresh.length > 0) {
        const now = ctx.storage.now();
        const ops: BatchOp[] = [];
        for (const { key, message } of fresh) {
          // ifVersion 0: of two readers at once, exactly one creates the receipt.
          ops.push({
            op: "set",
            key: `rcpt:${held.sessionId}:${message.message_id}`,
            value: { read_at: iso(now) },
            ifVersion: 0,
            ttlSeconds: MESSAGE_TTL_SECONDS,
          });
          if (message.to !== BROADCAST) {
            ops.push({
              op: "set",
              key,
              value: message as unknown as JsonObject,
              ttlSeconds: READ_MESSAGE_TTL_SECONDS,
            });
          }
        }
        try {
          await ctx.storage.writeBatch(scope, ops, { updatedBy: held.sessionId, guard });
        } catch (err) {
          // Another reader marked some of them first: read the inbox again.
          if (isCoordinatorError(err, "VERSION_CONFLICT") && !isGuardFailure(err) && attempt < 20) {
            continue;
          }
          throw err;
        }
      }
      const unreadLeft = all.filter((m) => !m.read).length - (markRead ? fresh.length : 0);
      return {
        messages: picked.map(({ message, read }) => ({ ...message, read })),
        unread_left: unreadLeft,
      };
    }
  });
}

/** The latest messages of the project, newest first (dashboard; no session needed). */
export async function recentMessages(ctx: SessionContext, limit: number): Promise<Message[]> {
  const entries = await ctx.storage.listEntries(scopeOf(ctx), { prefix: "m:" });
  return entries.map((e) => asMessage(e.entry.value)).filter((m): m is Message => m !== null)
    .sort((a, b) => a.message_id < b.message_id ? 1 : -1).slice(0, limit);
}
