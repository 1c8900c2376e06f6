/**
 * Who may read the dashboard. Three checks, in this order:
 *
 * 1. Host: the request must name the dashboard itself. A page on a domain
 *    the attacker controls can re-point that domain at 127.0.0.1 (DNS
 *    rebinding) and then read the dashboard as a same-origin page; its
 *    requests still carry the attacker's domain in Host, so they get 403.
 *    On loopback the localhost spellings are accepted; on a wildcard bind
 *    (0.0.0.0, ::) any IP literal and this machine's name are, since an IP
 *    literal cannot be rebound.
 * 2. Origin: a request that says it comes from another origin gets 403
 *    (no other site may embed or script the dashboard, even with a token).
 * 3. Token, when one is set: `Authorization: Bearer <token>`, or the cookie
 *    set after opening the page once with `?token=`. Compared as SHA-256
 *    digests in constant time, so neither its length nor a prefix leaks
 *    through timing. The cookie holds a digest of the token, not the token.
 *
 * @module
 */

/** What the checks need to know about the server. */
export interface AccessPolicy {
  /** The address the server is bound to, as configured ("127.0.0.1", "::1", "0.0.0.0", a name). */
  host: string;
  /** The port actually bound. */
  port: number;
  /** The required token; null when none is set (loopback only). */
  token: string | null;
  /** This machine's host name, accepted in Host on a wildcard bind. */
  machineName?: string | null;
}

/** The verdict of a check: allowed, or the status to answer with. */
export type Verdict = { ok: true } | { ok: false; status: 401 | 403 };

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);
const WILDCARD = new Set(["0.0.0.0", "::", "[::]"]);
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** True when `host` can only be reached from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_NAMES.has(h) || (IPV4.test(h) && h.startsWith("127."));
}

/** True for an IP literal: "10.0.0.2", "[fe80::1]". */
function isIpLiteral(host: string): boolean {
  return IPV4.test(host) || /^\[[0-9a-f:.]+\]$/.test(host);
}

/** The host as it appears in a URL: IPv6 in brackets. */
export function urlHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** Splits a Host header into its lower-cased name and port (80 when absent). */
function parseHostHeader(value: string): { name: string; port: number } | null {
  const m = /^(\[[0-9a-f:.]+\]|[^:\[\]]+)(?::(\d{1,5}))?$/.exec(value.trim().toLowerCase());
  if (!m) return null;
  return { name: m[1], port: m[2] === undefined ? 80 : Number(m[2]) };
}

/**
 * Checks the Host header against the bound address (see the module comment).
 *
 * @example
 * ```ts
 * const policy = { host: "127.0.0.1", port: 4117, token: null };
 * checkHost("localhost:4117", policy); // true
 * checkHost("evil.example:4117", policy); // false
 * ```
 */
export function checkHost(value: string | null, policy: AccessPolicy): boolean {
  if (value === null) return false;
  const parsed = parseHostHeader(value);
  if (parsed === null || parsed.port !== policy.port) return false;
  const bound = urlHost(policy.host.toLowerCase());
  if (parsed.name === bound) return true;
  if (isLoopback(policy.host)) return LOOPBACK_NAMES.has(parsed.name);
  if (WILDCARD.has(bound)) {
    return isIpLiteral(parsed.name) || parsed.name === "localhost" ||
      (!!policy.machineName && parsed.name === policy.machineName.toLowerCase());
  }
  return false;
}

/** True when a request's Origin header, if any, is the dashboard's own origin. */
export function checkOrigin(origin: string | null, hostHeader: string): boolean {
  return origin === null || origin.toLowerCase() === `http://${hostHeader.trim().toLowerCase()}`;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Compares two byte strings in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** The checks of one running dashboard, with the token's digests computed once. */
export interface Gate {
  /** Host and Origin (403), then the token (401). */
  check(request: Request): Promise<Verdict>;
  /** True when `candidate` is the token (constant time). */
  tokenMatches(candidate: string): Promise<boolean>;
  /** The Set-Cookie header that stands for the token afterwards. */
  cookie(): string;
  /** True when a token is required. */
  readonly requiresToken: boolean;
}

/**
 * The cookie's name carries the port: browsers share cookies between the
 * ports of one host, and two dashboards on one machine must not overwrite
 * each other's.
 */
export function cookieName(port: number): string {
  return `csc_dashboard_${port}`;
}

/** Builds the gate of a dashboard. */
export async function createGate(policy: AccessPolicy): Promise<Gate> {
  const token = policy.token;
  const tokenDigest = token === null ? null : await sha256(token);
  // What the cookie holds: a digest of the token under a fixed label, so the
  // cookie is worthless as a token anywhere else.
  const cookieValue = token === null
    ? null
    : base64url(await sha256(`csc-dashboard-cookie\n${token}`));
  const cookieDigest = cookieValue === null ? null : await sha256(cookieValue);
  const name = cookieName(policy.port);

  const matches = async (candidate: string, digest: Uint8Array | null) =>
    digest !== null && constantTimeEqual(await sha256(candidate), digest);

  return {
    requiresToken: token !== null,
    tokenMatches: (candidate) => matches(candidate, tokenDigest),
    cookie: () => `${name}=${cookieValue}; Path=/; HttpOnly; SameSite=Strict`,
    async check(request) {
      const host = request.headers.get("host");
      if (!checkHost(host, policy)) return { ok: false, status: 403 };
      if (!checkOrigin(request.headers.get("origin"), host!)) return { ok: false, status: 403 };
      if (token === null) return { ok: true };
      const auth = request.headers.get("authorization");
      if (auth !== null) {
        const m = /^Bearer +(\S+) *$/i.exec(auth);
        return m && await matches(m[1], tokenDigest) ? { ok: true } : { ok: false, status: 401 };
      }
      const cookie = readCookie(request.headers.get("cookie"), name);
      return cookie !== null && await matches(cookie, cookieDigest)
        ? { ok: true }
        : { ok: false, status: 401 };
    },
  };
}

/** The value of cookie `name` in a Cookie header, or null. */
function readCookie(header: string | null, name: string): string | null {
  if (header === null) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
