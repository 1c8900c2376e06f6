/**
 * The dashboard's HTTP handler: access checks (auth.ts), the page's files,
 * a JSON snapshot, and the server-sent event stream the page listens to.
 * Read-only: GET and HEAD only. Every response carries headers that keep it
 * from being framed, sniffed, or loading anything but its own files.
 *
 * Routes:
 * - `/`                the page (its script and style are separate files, so
 *                      the Content-Security-Policy needs no inline allowance)
 * - `/app.js`, `/app.css`, `/favicon.svg`
 * - `/api/snapshot?project=P`   the current snapshot as JSON
 * - `/api/projects`             the store's projects
 * - `/events?project=P`         server-sent events: `projects`, `snapshot`,
 *                               `problem`, and a comment every 15 s
 *
 * @module
 */
import type { Gate } from "./auth.ts";
import type { Live, LiveEvent } from "./live.ts";
import { PAGE_FILES } from "./page/files.ts";

/** Options of createHandler. */
export interface HandlerOptions {
  live: Live;
  gate: Gate;
  /** The project shown when a request names none. */
  project: string;
  /** How often an idle event stream gets a comment (ms), so proxies and browsers keep it. */
  keepAliveMs?: number;
}

/** The request handler, and the way to end its event streams before the server shuts down. */
export interface DashboardHandler {
  handle(request: Request): Promise<Response>;
  /** Ends every open event stream (the server's shutdown waits for open responses). */
  closeStreams(): void;
}

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

function respond(
  status: number,
  body: BodyInit | null,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, { status, headers: { ...SECURITY_HEADERS, ...headers } });
}

function text(status: number, message: string, headers: Record<string, string> = {}): Response {
  return respond(status, `${message}\n`, {
    "content-type": "text/plain; charset=utf-8",
    ...headers,
  });
}

const UNAUTHORIZED =
  "401 Unauthorized: this dashboard needs its token. Send it as `Authorization: Bearer <token>`, or open the page once as /?token=<token> (a cookie remembers it).";

/** Creates the handler. */
export function createHandler(options: HandlerOptions): DashboardHandler {
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const streams = new Set<() => void>();
  const encoder = new TextEncoder();

  function eventStream(project: string): Response {
    let end = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let open = true;
        const write = (chunk: string) => {
          if (!open) return;
          try {
            controller.enqueue(encoder.encode(chunk));
          } catch {
            end();
          }
        };
        // The page reconnects by itself after 2 s when the stream breaks.
        write("retry: 2000\n\n");
        const unsubscribe = options.live.subscribe(
          project,
          (e: LiveEvent) => write(`event: ${e.event}\ndata: ${e.data}\n\n`),
        );
        const keepAlive = setInterval(() => write(": keep-alive\n\n"), keepAliveMs);
        end = () => {
          if (!open) return;
          open = false;
          clearInterval(keepAlive);
          unsubscribe();
          streams.delete(end);
          try {
            controller.close();
          } catch {
            // Already closed by the client.
          }
        };
        streams.add(end);
      },
      cancel() {
        end();
      },
    });
    return respond(200, body, {
      "content-type": "text/event-stream; charset=utf-8",
      "x-accel-buffering": "no",
    });
  }

  async function route(request: Request, url: URL): Promise<Response> {
    const head = request.method === "HEAD";
    const file = PAGE_FILES.get(url.pathname);
    if (file) return respond(200, head ? null : file.body, { "content-type": file.type });
    if (url.pathname === "/api/projects") {
      const list = JSON.stringify(await options.live.projects());
      return respond(200, head ? null : list, { "content-type": "application/json" });
    }
    if (url.pathname !== "/api/snapshot" && url.pathname !== "/events") {
      return text(404, "404 Not Found");
    }
    const project = url.searchParams.get("project") ?? options.project;
    if (!await options.live.knownProject(project)) {
      return text(404, `404 Not Found: no project ${JSON.stringify(project)} in this store`);
    }
    if (url.pathname === "/api/snapshot") {
      const json = head ? null : await options.live.snapshot(project);
      return respond(200, json, { "content-type": "application/json" });
    }
    if (head) return respond(200, null, { "content-type": "text/event-stream; charset=utf-8" });
    return eventStream(project);
  }

  return {
    async handle(request) {
      const verdict = await options.gate.check(request);
      const url = new URL(request.url);
      const offered = url.searchParams.get("token");
      if (!verdict.ok && (verdict.status === 403 || offered === null)) {
        return verdict.status === 403
          ? text(403, "403 Forbidden: this request does not come from the dashboard's own page.")
          : text(401, UNAUTHORIZED, { "www-authenticate": 'Bearer realm="dashboard"' });
      }
      if (offered !== null && options.gate.requiresToken) {
        // A token in the URL is taken once: exchanged for a cookie, then the
        // address without it, so it leaves no trace in the history or the title bar.
        if (!await options.gate.tokenMatches(offered)) {
          return text(401, UNAUTHORIZED, { "www-authenticate": 'Bearer realm="dashboard"' });
        }
        url.searchParams.delete("token");
        return respond(303, null, {
          location: url.pathname + url.search,
          "set-cookie": options.gate.cookie(),
        });
      }
      if (request.method !== "GET" && request.method !== "HEAD") {
        return text(405, "405 Method Not Allowed: the dashboard is read-only.", {
          allow: "GET, HEAD",
        });
      }
      try {
        return await route(request, url);
      } catch {
        // The cause is logged by live.ts; the page shows the problem event.
        return text(503, "503 Service Unavailable: the store could not be read.");
      }
    },
    closeStreams() {
      for (const end of [...streams]) end();
    },
  };
}
