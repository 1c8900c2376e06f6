/**
 * `deno task screenshot`: builds a busy board (10 sessions, ~200 tasks,
 * reservations, messages, handoffs; scripts/_busy_board.ts), serves the
 * dashboard for it on a free port, and photographs it at 1366×768 in light
 * and dark mode with Debian's chromium: docs/dashboard.png and
 * docs/dashboard-dark.png.
 *
 * Usage: deno task screenshot [OUT_DIR]   (default docs/)
 */
import { join, resolve } from "node:path";
import { startDashboard } from "../src/dashboard/mod.ts";
import { buildBusyBoard } from "./_busy_board.ts";
import { withChromium } from "./_chromium.ts";

if (import.meta.main) {
  const root = resolve(import.meta.dirname ?? ".", "..");
  const outDir = resolve(Deno.args[0] ?? join(root, "docs"));
  await Deno.mkdir(outDir, { recursive: true });
  const board = await buildBusyBoard();
  const dashboard = await startDashboard({
    ctx: board.ctx,
    host: "127.0.0.1",
    port: 0,
    token: null,
    log: (line) => console.error(line),
  });
  try {
    for (const colorScheme of ["light", "dark"] as const) {
      await withChromium(async (browser) => {
        const page = browser.pages()[0] ?? await browser.newPage();
        await page.goto(dashboard.url);
        await page.waitForSelector("[data-session]");
        await page.waitForSelector("#graph svg");
        // Let the lease countdowns tick once so every number is filled in.
        await page.waitForTimeout(1200);
        const file = join(outDir, colorScheme === "light" ? "dashboard.png" : "dashboard-dark.png");
        await page.screenshot({ path: file });
        console.error(`saved ${file}`);
      }, { colorScheme });
    }
  } finally {
    await dashboard.close();
    await board.close();
  }
}
