// Writes one suite's section of docs/BENCHMARKS.md. Each suite owns the
// text between its markers `<!-- bench:SUITE:start -->` and
// `<!-- bench:SUITE:end -->`; a run replaces that text and leaves the
// other suites' sections as they are. A suite without a section yet gets
// one appended under its heading.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The file's opening, used only when docs/BENCHMARKS.md does not exist. */
const DOC_HEADER = `# Benchmarks

Each section is written by one suite of \`npm run bench -- <suite>\` (bench/<suite>.mjs) and replaced when
that suite runs again, so change the suite rather than the tables. The numbers describe the machine named in each
section at the time of the run, including whatever else was running on it.
`;

/**
 * Replaces (or appends under `## heading`) the section of `suite` with
 * `section`; returns the path of the file written.
 */
export function writeBenchmarkSection(suite, heading, section) {
  const path = join(root, "docs", "BENCHMARKS.md");
  const startMarker = `<!-- bench:${suite}:start -->`;
  const endMarker = `<!-- bench:${suite}:end -->`;
  mkdirSync(dirname(path), { recursive: true });
  let doc = existsSync(path) ? readFileSync(path, "utf8") : DOC_HEADER;
  const block = `${startMarker}\n${section}\n${endMarker}`;
  const start = doc.indexOf(startMarker);
  const end = doc.indexOf(endMarker);
  if (start >= 0 && end > start) {
    doc = doc.slice(0, start) + block + doc.slice(end + endMarker.length);
  } else {
    doc = `${doc.trimEnd()}\n\n## ${heading}\n\n${block}\n`;
  }
  writeFileSync(path, doc);
  return path;
}
