/** The version, read from deno.json at build time so compiled binaries carry it. */
import meta from "../../deno.json" with { type: "json" };

/** This release's version. */
export const VERSION: string = meta.version;
/** The package name. */
export const PACKAGE_NAME = "claude-session-coordinator";
