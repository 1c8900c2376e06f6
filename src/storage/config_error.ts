/** The CONFIG_INVALID an adapter's `storage.config` gets when its schema refuses it. */
import type { z } from "zod";
import { CoordinatorError } from "../core/errors.ts";

/**
 * Names the first field at fault (an unknown field with the list of the ones
 * the adapter accepts). Only paths and our own messages go out: zod never puts
 * the text of a value, such as a URL with its password, in a message.
 */
export function adapterConfigError(
  adapter: string,
  acceptedFields: string,
  error: z.ZodError,
): CoordinatorError {
  const issue = error.issues[0];
  const unknown = issue.code === "unrecognized_keys" ? issue.keys : [];
  const path = unknown.length > 0 ? unknown[0] : issue.path.map(String).join(".");
  const field = path === "" ? "storage.config" : `storage.config.${path}`;
  const what = unknown.length > 0
    ? `unknown field (the ${adapter} adapter accepts ${acceptedFields}).`
    : path === ""
    ? "must be an object."
    : issue.message;
  return new CoordinatorError("CONFIG_INVALID", `${field}: ${what}`, {
    field,
    issues: error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
  });
}
