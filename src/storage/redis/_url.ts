/** Parsing the Redis adapter's `storage.config.url`. */
import { CoordinatorError } from "../../core/errors.ts";
import { redactUrl } from "../../core/redact.ts";

/** Where a URL points, with the credentials node-redis needs. */
export interface RedisTarget {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
  database?: number;
}

/** CONFIG_INVALID for `storage.config.url`; `message` must already be free of secrets. */
export function urlError(message: string, details: Record<string, unknown> = {}): CoordinatorError {
  return new CoordinatorError("CONFIG_INVALID", `storage.config.url: ${message}`, {
    field: "storage.config.url",
    ...details,
  });
}

/**
 * Parses and checks a redis:// or rediss:// URL; CONFIG_INVALID names what is
 * wrong, never the password.
 *
 * @example
 * ```ts
 * const target = parseRedisUrl("redis://app:pw@127.0.0.1:6380/2");
 * // { host: "127.0.0.1", port: 6380, tls: false, username: "app", password: "pw", database: 2 }
 * ```
 */
export function parseRedisUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw urlError(`${JSON.stringify(redactUrl(url))} is not a valid URL.`);
  }
  const shown = JSON.stringify(redactUrl(url));
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw urlError(`${shown} must start with redis:// or rediss://.`);
  }
  // WHATWG keeps IPv6 brackets in hostname; sockets want the bare address.
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw urlError(`${shown} names no host.`);
  const port = u.port === "" ? 6379 : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw urlError(`${shown} has an invalid port.`);
  }
  let database: number | undefined;
  if (u.pathname.length > 1) {
    database = Number(u.pathname.slice(1));
    if (!Number.isInteger(database) || database < 0) {
      throw urlError(`${shown}: the path must be a database number such as /0.`);
    }
  }
  if (u.search || u.hash) throw urlError(`${shown} must not have a query or fragment.`);
  let username: string | undefined;
  let password: string | undefined;
  try {
    username = u.username ? decodeURIComponent(u.username) : undefined;
    password = u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    throw urlError(`${shown} has badly percent-encoded credentials.`);
  }
  return { host, port, tls: u.protocol === "rediss:", username, password, database };
}

/** `host:port` for messages, with IPv6 hosts in brackets. */
export function hostPort(target: RedisTarget): string {
  return `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
}
