/**
 * Debian's chromium under playwright-core, for the dashboard's screenshot
 * task and its browser tests. Playwright cannot download a browser on a
 * closed network, so it drives the installed one; the flags keep chromium
 * from reaching out (its background connections are refused there).
 */
import { type BrowserContext, chromium } from "playwright-core";

/** The flags that make chromium work headless on a closed network. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Where chromium is: $CHROMIUM, or Debian's /usr/bin/chromium. */
export function chromiumPath(): string {
  return Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
}

/** True when the chromium binary exists. */
export function chromiumAvailable(): boolean {
  try {
    return Deno.statSync(chromiumPath()).isFile;
  } catch {
    return false;
  }
}

/** Options of withChromium. */
export interface ChromiumOptions {
  viewport?: { width: number; height: number };
  colorScheme?: "light" | "dark";
}

/**
 * Runs `fn` with a headless chromium on a fresh profile directory; the
 * browser is closed and the profile removed afterwards, whatever happens.
 */
export async function withChromium<T>(
  fn: (browser: BrowserContext) => Promise<T>,
  options: ChromiumOptions = {},
): Promise<T> {
  const profile = await Deno.makeTempDir({ prefix: "csc-chromium-" });
  try {
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath(),
      headless: true,
      args: [...CHROMIUM_ARGS],
      viewport: options.viewport ?? { width: 1366, height: 768 },
      deviceScaleFactor: 1,
      colorScheme: options.colorScheme ?? "light",
    });
    try {
      return await fn(browser);
    } finally {
      await browser.close();
    }
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}
