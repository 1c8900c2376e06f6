/**
 * Installs the peer, @modelcontextprotocol/server-memory, at a pinned version
 * with npm into bench/.peer/<version>/ (git-ignored), once; later runs reuse it.
 */
import { join } from "node:path";
import { REPO_ROOT, run } from "./_setup.ts";

/** The peer's npm package. */
export const PEER_PACKAGE = "@modelcontextprotocol/server-memory";
/** The pinned version (`npm view @modelcontextprotocol/server-memory version` when pinned). */
export const PEER_VERSION = "2026.8.31";

/** Where the peer is installed and how to run it. */
export interface PeerInstall {
  package: string;
  version: string;
  /** The server's entry point, run as `node <entry>`. */
  entry: string;
  node: string;
  nodeVersion: string;
  /** True when this run installed it, false when the cache was used. */
  installed: boolean;
}

/** Installs the peer unless bench/.peer already holds this version; returns how to run it. */
export async function ensurePeer(log: (line: string) => void): Promise<PeerInstall> {
  const prefix = join(REPO_ROOT, "bench", ".peer", PEER_VERSION);
  const pkgDir = join(prefix, "node_modules", ...PEER_PACKAGE.split("/"));
  const entry = join(pkgDir, "dist", "index.js");
  let installed = false;
  if (!(await installedVersionIs(pkgDir, PEER_VERSION))) {
    log(`installing ${PEER_PACKAGE}@${PEER_VERSION} into ${prefix} …`);
    await Deno.mkdir(prefix, { recursive: true });
    await run("npm", [
      "install",
      "--prefix",
      prefix,
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      `${PEER_PACKAGE}@${PEER_VERSION}`,
    ]);
    if (!(await installedVersionIs(pkgDir, PEER_VERSION))) {
      throw new Error(`npm did not install ${PEER_PACKAGE}@${PEER_VERSION} into ${prefix}`);
    }
    installed = true;
  }
  await Deno.stat(entry);
  const node = await run("sh", ["-c", "command -v node"]);
  return {
    package: PEER_PACKAGE,
    version: PEER_VERSION,
    entry,
    node,
    nodeVersion: await run(node, ["--version"]),
    installed,
  };
}

async function installedVersionIs(pkgDir: string, version: string): Promise<boolean> {
  try {
    const pkg = JSON.parse(await Deno.readTextFile(join(pkgDir, "package.json")));
    return pkg.version === version;
  } catch {
    return false;
  }
}
