// A progress bar on stderr. On a terminal it redraws one line in place. On
// anything else (a pipe, a CI log) it prints a plain line at most every
// `intervalMs` milliseconds and at the end, so logs stay short.

export function createProgress({ label, total, stream = process.stderr, intervalMs = 5000, enabled = true }) {
  const interactive = Boolean(stream.isTTY);
  const start = performance.now();
  let lastPrint = -Infinity;
  let finished = false;

  function render(done, detail) {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const seconds = ((performance.now() - start) / 1000).toFixed(1);
    if (interactive) {
      const width = 24;
      const filled = Math.round(fraction * width);
      return `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${seconds}s ${detail}`;
    }
    return `${label}: ${(fraction * 100).toFixed(0)}% after ${seconds}s ${detail}`;
  }

  return {
    /** Shows `done` of `total` units with a short detail text. */
    update(done, detail = "") {
      if (!enabled || finished) return;
      const now = performance.now();
      if (interactive) {
        stream.write(`\r${render(done, detail)}\x1b[K`);
      } else if (now - lastPrint >= intervalMs) {
        stream.write(`${render(done, detail)}\n`);
        lastPrint = now;
      }
    },
    /** Prints the final state and ends the line. */
    finish(done, detail = "") {
      if (!enabled || finished) return;
      finished = true;
      stream.write(interactive ? `\r${render(done, detail)}\x1b[K\n` : `${render(done, detail)}\n`);
    },
  };
}
