/**
 * The page's files by path, as the server sends them. They are modules, not
 * files read at run time, so a compiled binary carries them like any code.
 *
 * @module
 */
import { PAGE_CSS } from "./css.ts";
import { FAVICON_SVG, PAGE_HTML } from "./html.ts";
import { PAGE_SCRIPT } from "./script.ts";

/** One file of the page. */
export interface PageFile {
  type: string;
  body: string;
}

/** The page's files, by URL path. */
export const PAGE_FILES: ReadonlyMap<string, PageFile> = new Map([
  ["/", { type: "text/html; charset=utf-8", body: PAGE_HTML }],
  ["/app.js", { type: "text/javascript; charset=utf-8", body: PAGE_SCRIPT }],
  ["/app.css", { type: "text/css; charset=utf-8", body: PAGE_CSS }],
  ["/favicon.svg", { type: "image/svg+xml", body: FAVICON_SVG }],
]);
