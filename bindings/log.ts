// The library's one logger. Library code never calls console directly: it
// calls `log.debug(() => ...)` and friends, so a message is only formatted
// when its level is enabled, and users can redirect everything with
// `setLogSink`.

/** Severity levels, lowest first. "silent" turns logging off. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** A destination for log records. */
export type LogSink = (level: Exclude<LogLevel, "silent">, message: string) => void;

const LEVEL_RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

let threshold: LogLevel = "warn";

const consoleSink: LogSink = (level, message) => {
  const line = `[favor-wasm] ${level}: ${message}`;
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
};

let sink: LogSink = consoleSink;

/** Sets the lowest level that is written. The default is "warn". */
export function setLogLevel(level: LogLevel): void {
  if (!(level in LEVEL_RANK)) {
    throw new RangeError(`setLogLevel: level must be one of ${Object.keys(LEVEL_RANK).join(", ")}, got ${String(level)}`);
  }
  threshold = level;
}

/** Returns the current log level. */
export function getLogLevel(): LogLevel {
  return threshold;
}

/** Sends log records to `target` instead of the console; pass null to restore the console. */
export function setLogSink(target: LogSink | null): void {
  sink = target ?? consoleSink;
}

function emit(level: Exclude<LogLevel, "silent">, message: () => string): void {
  if (LEVEL_RANK[level] < LEVEL_RANK[threshold]) return;
  sink(level, message());
}

/** Level-gated logging with lazily built messages. */
export const log = {
  debug: (message: () => string) => emit("debug", message),
  info: (message: () => string) => emit("info", message),
  warn: (message: () => string) => emit("warn", message),
  error: (message: () => string) => emit("error", message),
};
