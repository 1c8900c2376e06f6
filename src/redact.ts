/** Keeps credentials out of anything shown to a user: logs, errors, printed configs. */

/** Hides the password (or a lone user token) of a URL such as redis://user:pw@host. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    else if (u.username) u.username = "***";
    return u.toString();
  } catch {
    // Not a URL: hide anything between "//" and "@", where a password would sit.
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}

/** A deep copy of a JSON value with every credential-bearing URL string redacted. */
export function redactSecrets<T>(value: T): T {
  if (typeof value === "string") {
    return (/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value) ? redactUrl(value) : value) as T;
  }
  if (Array.isArray(value)) return value.map(redactSecrets) as T;
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, redactSecrets(v)]),
    ) as T;
  }
  return value;
}
