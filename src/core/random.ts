/** Random identifiers: grant ids, task and message ids, file ids, audit writers. */

/** `bytes` random bytes as lower-case hex, two digits a byte. */
export function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}
