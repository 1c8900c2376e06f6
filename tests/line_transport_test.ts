/** The stdio framing: bad lines get JSON-RPC errors, big lines are skipped, EOF drains. */
import assert from "node:assert/strict";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { createLineTransport, plainRequest } from "../src/mcp/line_transport.ts";
import { JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";

type Mode = "streams" | "bytes";

/**
 * The transport over web streams, or over a read/write pair like Deno.stdin
 * and Deno.stdout whose writes take at most 7 bytes each (a pipe may take
 * part of what it is given).
 */
function harness(mode: Mode, chunks: string[], maxLineBytes?: number) {
  const enc = new TextEncoder();
  let written = "";
  let writes = 0;
  const queue = chunks.map((c) => enc.encode(c));
  const input = mode === "streams"
    ? new ReadableStream<Uint8Array>({
      start(c) {
        for (const chunk of queue) c.enqueue(chunk);
        c.close();
      },
    })
    : {
      read(buffer: Uint8Array): Promise<number | null> {
        const next = queue.shift();
        if (next === undefined) return Promise.resolve(null);
        buffer.set(next);
        return Promise.resolve(next.length);
      },
    };
  const output = mode === "streams"
    ? new WritableStream<Uint8Array>({
      write(chunk) {
        written += new TextDecoder().decode(chunk);
      },
    })
    : {
      async write(bytes: Uint8Array): Promise<number> {
        await new Promise((r) => setTimeout(r, 1));
        writes++;
        const n = Math.min(7, bytes.length);
        written += new TextDecoder().decode(bytes.subarray(0, n));
        return n;
      },
    };
  const transport = createLineTransport({ input, output, maxLineBytes, drainTimeoutMs: 2000 });
  const received: JSONRPCMessage[] = [];
  const closed = new Promise<void>((resolve) => transport.onclose = resolve);
  transport.onmessage = (m: JSONRPCMessage) => received.push(m);
  return {
    transport,
    received,
    closed,
    writes: () => writes,
    lines: () => written.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)),
  };
}

const ping = (id: number) => JSON.stringify({ jsonrpc: "2.0", id, method: "ping" });

for (const mode of ["streams", "bytes"] as const) {
  Deno.test(`${mode}: valid lines are delivered, split across chunks, with CRLF and without a final newline`, async () => {
    const h = harness(mode, [
      ping(1).slice(0, 5),
      ping(1).slice(5) + "\r\n" + ping(2) + "\n\n",
      ping(3),
    ]);
    await h.transport.start();
    await new Promise((r) => setTimeout(r, 50));
    for (const id of [1, 2, 3]) {
      await h.transport.send({ jsonrpc: "2.0", id, result: {} } as JSONRPCMessage);
    }
    await h.closed;
    assert.deepEqual(h.received.map((m) => (m as { id: number }).id), [1, 2, 3]);
  });

  Deno.test(`${mode}: a malformed line gets -32700 and later lines still arrive`, async () => {
    const h = harness(mode, ["not json\n", '{"jsonrpc":"2.0","id":7}\n', ping(1) + "\n"]);
    await h.transport.start();
    await new Promise((r) => setTimeout(r, 50));
    await h.transport.send({ jsonrpc: "2.0", id: 1, result: {} } as JSONRPCMessage);
    await h.closed;
    const lines = h.lines();
    assert.equal(lines[0].error.code, -32700);
    assert.equal(lines[0].id, null);
    assert.equal(lines[1].error.code, -32600);
    assert.equal(lines[1].id, 7);
    assert.deepEqual(h.received.map((m) => (m as { id: number }).id), [1]);
  });

  Deno.test(`${mode}: an oversized line is refused and skipped, even across chunks`, async () => {
    const big = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + "y".repeat(300) + '"}}';
    const h = harness(mode, [big.slice(0, 100), big.slice(100) + "\n", ping(2) + "\n"], 200);
    await h.transport.start();
    await new Promise((r) => setTimeout(r, 50));
    await h.transport.send({ jsonrpc: "2.0", id: 2, result: {} } as JSONRPCMessage);
    await h.closed;
    assert.equal(h.lines()[0].error.code, -32600);
    assert.match(h.lines()[0].error.message, /longer than 200 bytes/);
    assert.deepEqual(h.received.map((m) => (m as { id: number }).id), [2]);
  });

  Deno.test(`${mode}: end of input waits for unanswered requests before closing`, async () => {
    const h = harness(mode, [ping(1) + "\n"]);
    let closedAt = 0;
    h.closed.then(() => closedAt = Date.now());
    await h.transport.start();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(closedAt, 0, "still open while a request is pending");
    const answeredAt = Date.now();
    await h.transport.send({ jsonrpc: "2.0", id: 1, result: {} } as JSONRPCMessage);
    await h.closed;
    assert.ok(closedAt >= answeredAt);
    assert.equal(h.lines().length, 1);
  });

  Deno.test(`${mode}: a request the client cancelled does not hold up the close at end of input`, async () => {
    const cancel = JSON.stringify({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 1, reason: "user" },
    });
    const h = harness(mode, [ping(1) + "\n", cancel + "\n"]);
    const started = Date.now();
    await h.transport.start();
    await h.closed;
    assert.ok(Date.now() - started < 1000, `closed after ${Date.now() - started} ms`);
  });

  Deno.test(`${mode}: an oversized last line without a newline still gets an error reply`, async () => {
    const h = harness(mode, [ping(1) + "\n", "x".repeat(500)], 200);
    await h.transport.start();
    await new Promise((r) => setTimeout(r, 50));
    await h.transport.send({ jsonrpc: "2.0", id: 1, result: {} } as JSONRPCMessage);
    await h.closed;
    const errors = h.lines().filter((l) => l.error);
    assert.equal(errors.length, 1);
    assert.match(errors[0].error.message, /longer than 200 bytes/);
  });

  Deno.test(`${mode}: replies sent together arrive whole and in order`, async () => {
    const h = harness(mode, [[1, 2, 3, 4, 5].map((id) => ping(id) + "\n").join("")]);
    await h.transport.start();
    await new Promise((r) => setTimeout(r, 50));
    await Promise.all(
      [1, 2, 3, 4, 5].map((id) =>
        h.transport.send({ jsonrpc: "2.0", id, result: { id } } as JSONRPCMessage)
      ),
    );
    await h.closed;
    assert.deepEqual(h.lines().map((l) => l.result.id), [1, 2, 3, 4, 5]);
  });
}

Deno.test("every message the fast path takes, the SDK's schema takes as it is", () => {
  const ids = [1, 0, -5, "a", "", 1.5, null, 2 ** 60, true, [1]];
  const paramsList = [
    undefined,
    {},
    { name: "x", arguments: { a: 1 } },
    [],
    null,
    "p",
    3,
    {
      _meta: { progressToken: 1 },
    },
    { _meta: { progressToken: {} } },
    { __proto__: null, a: 1 },
  ];
  const extras = [{}, { extra: 1 }, { result: {} }, { error: { code: 1, message: "m" } }];
  let taken = 0;
  for (const id of [...ids, undefined]) {
    for (const params of paramsList) {
      for (const extra of extras) {
        for (const method of ["tools/call", 7, undefined]) {
          for (const jsonrpc of ["2.0", "1.0"]) {
            const m: Record<string, unknown> = { jsonrpc, ...extra };
            if (method !== undefined) m.method = method;
            if (id !== undefined) m.id = id;
            if (params !== undefined) m.params = params;
            // Through JSON, as the transport sees it (an object without a prototype stays one).
            const raw = params !== null && typeof params === "object" &&
                Object.getPrototypeOf(params) === null
              ? m
              : JSON.parse(JSON.stringify(m));
            if (!plainRequest(raw)) continue;
            taken++;
            const parsed = JSONRPCMessageSchema.safeParse(raw);
            assert.ok(parsed.success, JSON.stringify(raw));
            assert.deepEqual(parsed.data, raw);
          }
        }
      }
    }
  }
  assert.ok(taken >= 10, `the fast path took ${taken} messages`);
  assert.equal(
    plainRequest(JSON.parse('{"jsonrpc":"2.0","id":1,"method":"x","__proto__":{}}')),
    false,
  );
});
