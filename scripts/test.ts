/**
 * `deno task test`: runs the whole suite with coverage, prints the coverage of
 * src/, fails when line coverage is under the bar, and ends with the plain
 * totals line `N passed, M failed` that CI reads.
 *
 * Extra arguments are passed to `deno test` (e.g. a file or `--filter`).
 */
import { join, resolve } from "node:path";

/** Line coverage of src/ below this fails the run (the original plan's bar). */
const MIN_LINE_COVERAGE = 90;

const root = resolve(import.meta.dirname ?? ".", "..");
const coverageDir = join(root, "coverage");

/** Runs a command, streaming its output while keeping a copy. */
async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(cmd, {
    args,
    cwd: root,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    text += decoder.decode(chunk, { stream: true });
  }
  const status = await child.status;
  return { code: status.code, text };
}

/** Sums lcov line counters (LF found, LH hit) for the files under src/. */
function lineCoverage(lcov: string): { found: number; hit: number; files: Map<string, number> } {
  let found = 0, hit = 0, file = "", lf = 0, lh = 0;
  const files = new Map<string, number>();
  for (const line of lcov.split("\n")) {
    if (line.startsWith("SF:")) [file, lf, lh] = [line.slice(3), 0, 0];
    else if (line.startsWith("LF:")) lf = Number(line.slice(3));
    else if (line.startsWith("LH:")) lh = Number(line.slice(3));
    else if (line === "end_of_record" && file.startsWith(join(root, "src"))) {
      found += lf;
      hit += lh;
      files.set(file.slice(root.length + 1), lf === 0 ? 100 : (100 * lh) / lf);
    }
  }
  return { found, hit, files };
}

await Deno.remove(coverageDir, { recursive: true }).catch(() => {});
const testArgs = Deno.args.length > 0 ? Deno.args : ["tests/"];
// Child processes the tests spawn (servers, writers) inherit DENO_COVERAGE_DIR,
// so end-to-end runs count towards coverage too.
const test = await run(
  Deno.execPath(),
  ["test", "-A", `--coverage=${coverageDir}`, ...testArgs],
  { DENO_COVERAGE_DIR: coverageDir },
);

const totals = /(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(test.text);
const passed = totals ? Number(totals[1]) : 0;
let failed = totals ? Number(totals[2]) : 1;

let coverageOk = true;
if (Deno.args.length === 0) {
  const lcovFile = join(coverageDir, "lcov.info");
  const cov = await run(Deno.execPath(), [
    "coverage",
    coverageDir,
    `--include=^file://${join(root, "src")}`,
    "--lcov",
    `--output=${lcovFile}`,
  ]);
  if (cov.code === 0) {
    const { found, hit, files } = lineCoverage(await Deno.readTextFile(lcovFile));
    const pct = found === 0 ? 0 : (100 * hit) / found;
    console.log("\nLine coverage of src/:");
    for (const [file, p] of [...files].sort()) {
      console.log(`  ${p.toFixed(1).padStart(5)}%  ${file}`);
    }
    console.log(
      `  ${pct.toFixed(1).padStart(5)}%  total (${hit}/${found} lines; bar ${MIN_LINE_COVERAGE}%)`,
    );
    if (pct < MIN_LINE_COVERAGE) {
      console.log(`coverage ${pct.toFixed(1)}% is below ${MIN_LINE_COVERAGE}%`);
      coverageOk = false;
    }
  } else {
    coverageOk = false;
  }
}
if (!totals) console.log("could not read the test totals from deno test's output");
if (!coverageOk && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(test.code === 0 && coverageOk && totals ? 0 : 1);
