/** Keeps credentials out of anything shown to a user: logs, errors, printed configs. */

/**
 * Hides the password (or a lone token) of a URL such as redis://user:pw@host,
 * keeping the user name. Works on the text, not a parse: a password with an
 * unescaped "/" or "@" breaks URL parsing, and must be hidden all the same, so
 * everything up to the last "@" after "//" counts as credentials.
 */
export function redactUrl(url: string): string {
  return url.replace(
    /\/\/(?:([^:@/]*):)?[^]*@/,
    (_match, user: string | undefined) => `//${user !== undefined ? `${user}:` : ""}***@`,
  );
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

/**
 * A text with the credentials of every URL in it hidden: for messages that
 * may quote what a user wrote anywhere (a Redis URL with its password put
 * in the wrong config field, say). A URL runs to the next space or quote.
 */
export function redactText(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>]*/gi, (url) => redactUrl(url));
}
