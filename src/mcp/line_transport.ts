/**
 * MCP's stdio framing (one JSON-RPC message per line), over a process's
 * stdin/stdout (read and write calls into one reused buffer, replies
 * coalesced into one write) or over web streams.
 *
 * Why not the SDK's StdioServerTransport: it drops a malformed line without
 * answering (the client waits for ever), closes the whole connection when a
 * line passes 10 MiB, and never notices that stdin ended, so a server would
 * hold its instance after the client left. This one answers a bad line with a
 * JSON-RPC error and keeps serving, skips an oversized line the same way, and
 * calls onclose at end of input.
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { type JSONRPCMessage, JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";

/** Longest accepted line by default; larger requests get an error reply. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const INVALID_PARAMS = -32602;

/** Strings (skipped) and number literals of JSON text. */
const TOKENS = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/**
 * The first integer literal in JSON text that JSON.parse cannot represent
 * exactly (beyond ±(2^53 - 1), and not a double that reads back as the same
 * digits), or null. Cheap for the usual line: only a line with a run of 16
 * digits is scanned.
 */
export function unsafeInteger(text: string): string | null {
  if (!/\d{16}/.test(text)) return null;
  for (const [token] of text.matchAll(TOKENS)) {
    if (token.startsWith('"') || /[.eE]/.test(token)) continue;
    const n = Number(token);
    // Beyond 2^53 only what would come back as other digits is lost:
    // 18446744073709552000 is exactly a double and reads back the same.
    if (!Number.isSafeInteger(n) && JSON.stringify(n) !== token) return token;
  }
  return null;
}

/** What stdin offers (Deno.stdin): reads into a caller's buffer; null at end of input. */
export interface ByteSource {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** What stdout offers (Deno.stdout): writes some of the bytes, says how many. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<number>;
}

/** Options for createLineTransport. */
export interface LineTransportOptions {
  /**
   * Where requests come from. A ByteSource is read straight into one reused
   * buffer: a web stream costs a promise chain and a fresh chunk per read,
   * which on a small request is most of the transport's time.
   */
  input: ReadableStream<Uint8Array> | ByteSource;
  /** Where replies go; to a ByteSink, replies that meet are written in one call. */
  output: WritableStream<Uint8Array> | ByteSink;
  maxLineBytes?: number;
  /** How long to wait at end of input for unanswered requests. */
  drainTimeoutMs?: number;
  /** Called at the end of input, before the requests still open are drained. */
  onInputEnd?: () => void;
}

/** Creates a newline-delimited JSON-RPC transport over the given streams. */
export function createLineTransport(options: LineTransportOptions): Transport {
  const maxLine = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const encoder = new TextEncoder();
  const output = openOutput(options.output);
  let input: ChunkReader | null = null;
  let closed = false;
  // Requests read but not yet answered: at end of input we finish them before
  // closing, so a client that writes and then closes stdin still gets answers.
  const pending = new Set<string | number>();
  let drained: (() => void) | null = null;

  const transport: Transport = {
    start() {
      input = openInput(options.input);
      void readLoop(input);
      return Promise.resolve();
    },
    async send(message: JSONRPCMessage) {
      if (closed) return;
      await output.write(encoder.encode(JSON.stringify(message) + "\n"));
      if ("id" in message && !("method" in message) && message.id !== null) {
        pending.delete(message.id);
        if (pending.size === 0) drained?.();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await input?.cancel().catch(() => {});
      await output.close().catch(() => {});
      transport.onclose?.();
    },
  };

  function reply(id: string | number | null, code: number, message: string) {
    transport.send({ jsonrpc: "2.0", id, error: { code, message } } as unknown as JSONRPCMessage)
      .catch((err: Error) => transport.onerror?.(err));
  }

  function handleLine(bytes: Uint8Array) {
    let text = new TextDecoder().decode(bytes);
    if (text.endsWith("\r")) text = text.slice(0, -1);
    if (text.trim() === "") return;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      reply(null, PARSE_ERROR, `Parse error: ${(err as Error).message}`);
      return;
    }
    const parsed = plainRequest(raw)
      ? { success: true as const, data: raw }
      : JSONRPCMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const id = (raw as { id?: unknown })?.id;
      const replyId = typeof id === "string" || typeof id === "number" ? id : null;
      reply(replyId, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message");
      return;
    }
    const msg = parsed.data;
    // JSON.parse rounds integers past 2^53 without a word: a value stored
    // that way would be silently wrong, so such a request is refused.
    const unsafe = "method" in msg && "id" in msg ? unsafeInteger(text) : null;
    if (unsafe !== null) {
      reply(
        (msg as { id: string | number }).id,
        INVALID_PARAMS,
        `INVALID_ARGUMENT: the integer ${unsafe} is beyond 2^53 and would lose precision in ` +
          `JSON; send it as a string. Nothing was done.`,
      );
      return;
    }
    if ("method" in msg && "id" in msg) pending.add(msg.id);
    // The SDK sends no response for a cancelled request: stop waiting for one.
    if ("method" in msg && msg.method === "notifications/cancelled" && !("id" in msg)) {
      const params = (msg as { params?: { requestId?: string | number } }).params;
      if (
        params?.requestId !== undefined && pending.delete(params.requestId) && pending.size === 0
      ) {
        drained?.();
      }
    }
    transport.onmessage?.(msg);
  }

  async function drain(timeoutMs: number) {
    if (pending.size === 0) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    drained = resolve;
    const timer = setTimeout(resolve, timeoutMs);
    await promise;
    clearTimeout(timer);
  }

  async function readLoop(r: ChunkReader) {
    let chunks: Uint8Array[] = [];
    let size = 0;
    let skipping = false;
    try {
      for (;;) {
        // A chunk may be the reader's own buffer: lines are decoded before
        // the next read, and a partial line is copied out.
        const value = await r.read();
        if (value === null) break;
        let start = 0;
        for (let nl = value.indexOf(10); nl !== -1; nl = value.indexOf(10, start)) {
          const piece = value.subarray(start, nl);
          if (!skipping && size + piece.length <= maxLine) {
            chunks.push(piece);
            handleLine(concat(chunks, size + piece.length));
          } else {
            reply(null, INVALID_REQUEST, `Invalid Request: line longer than ${maxLine} bytes`);
          }
          chunks = [];
          size = 0;
          skipping = false;
          start = nl + 1;
        }
        const rest = value.subarray(start);
        if (!skipping && size + rest.length > maxLine) {
          // Drop what we have; the rest of this line is dropped as it comes.
          chunks = [];
          size = 0;
          skipping = true;
        } else if (!skipping && rest.length > 0) {
          chunks.push(rest.slice());
          size += rest.length;
        }
      }
      if (skipping) {
        reply(null, INVALID_REQUEST, `Invalid Request: line longer than ${maxLine} bytes`);
      } else if (size > 0) handleLine(concat(chunks, size));
    } catch (err) {
      if (!closed) transport.onerror?.(err as Error);
    }
    options.onInputEnd?.();
    await drain(options.drainTimeoutMs ?? 30_000);
    await transport.close();
  }

  return transport;
}

const REQUEST_FIELDS = new Set(["jsonrpc", "id", "method", "params"]);

/**
 * True for the usual request or notification: only the four fields, a
 * string or safe-integer id, params an object without `_meta`. Every such
 * value is one JSONRPCMessageSchema accepts as it is, so it skips zod (a
 * tenth of a small call's CPU); anything else is left to the SDK's schema.
 */
export function plainRequest(raw: unknown): raw is JSONRPCMessage {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return false;
  const m = raw as Record<string, unknown>;
  if (m.jsonrpc !== "2.0" || typeof m.method !== "string") return false;
  for (const field in m) if (!REQUEST_FIELDS.has(field)) return false;
  if ("id" in m && typeof m.id !== "string" && !Number.isSafeInteger(m.id)) return false;
  if (!("params" in m)) return true;
  const params = m.params;
  return typeof params === "object" && params !== null && !Array.isArray(params) &&
    Object.getPrototypeOf(params) === Object.prototype && !("_meta" in params);
}

/** Chunks of input; a chunk is valid until the next read. */
interface ChunkReader {
  read(): Promise<Uint8Array | null>;
  cancel(): Promise<void>;
}

/** Replies in order; write resolves once the bytes are out. */
interface LineWriter {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

const READ_BUFFER_BYTES = 64 * 1024;

function openInput(input: ReadableStream<Uint8Array> | ByteSource): ChunkReader {
  if (input instanceof ReadableStream) {
    const reader = input.getReader();
    return {
      read: async () => {
        const { value, done } = await reader.read();
        return done ? null : value;
      },
      cancel: () => reader.cancel(),
    };
  }
  const buffer = new Uint8Array(READ_BUFFER_BYTES);
  let cancelled = false;
  return {
    read: async () => {
      if (cancelled) return null;
      const n = await input.read(buffer);
      return n === null || cancelled ? null : buffer.subarray(0, n);
    },
    // Deno.stdin cannot be interrupted mid-read; the loop stops at the next chunk.
    cancel: () => {
      cancelled = true;
      return Promise.resolve();
    },
  };
}

function openOutput(output: WritableStream<Uint8Array> | ByteSink): LineWriter {
  if (output instanceof WritableStream) {
    const writer = output.getWriter();
    return { write: (bytes) => writer.write(bytes), close: () => writer.close() };
  }
  const sink: ByteSink = output;
  // Replies queued while a write is under way go out together in the next one.
  let queued: Uint8Array[] = [];
  let flushing: Promise<void> | null = null;
  async function flush(): Promise<void> {
    try {
      while (queued.length > 0) {
        const batch = queued;
        queued = [];
        const bytes = concat(batch, batch.reduce((n, b) => n + b.length, 0));
        for (let at = 0; at < bytes.length;) at += await sink.write(bytes.subarray(at));
      }
    } finally {
      flushing = null;
    }
  }
  return {
    write(bytes) {
      queued.push(bytes);
      flushing ??= flush();
      return flushing;
    },
    close: () => flushing ?? Promise.resolve(),
  };
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
