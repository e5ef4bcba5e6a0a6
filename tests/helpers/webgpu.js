// Opens WebGPU in Node for the unit tests: the `webgpu` npm package (Dawn)
// on SwiftShader, the software Vulkan driver in Debian's chromium package.
// VK_DRIVER_FILES must name its ICD before Dawn creates its instance, so the
// variable is set before the package is imported. FAVOR_VK_ICD overrides
// the path. SwiftShader is a software adapter: tests check results only.

import { existsSync } from "node:fs";

const ICD = process.env.FAVOR_VK_ICD ?? "/usr/lib/chromium/vk_swiftshader_icd.json";

let entry = null;

/** Returns the navigator.gpu-like entry point, or throws an Error that explains why there is none. */
export async function nodeGpu() {
  if (entry !== null) return entry;
  if (!existsSync(ICD)) {
    throw new Error(`SwiftShader's Vulkan driver ${ICD} is missing (Debian's chromium package installs it; or set FAVOR_VK_ICD)`);
  }
  process.env.VK_DRIVER_FILES = ICD;
  const { create } = await import("webgpu");
  entry = create([]);
  return entry;
}

/** Collects log records while `body` runs at debug level; returns "level: message" lines. */
export async function collectLogs(setLogLevel, setLogSink, body) {
  const messages = [];
  setLogSink((level, message) => messages.push(`${level}: ${message}`));
  setLogLevel("debug");
  try {
    await body(messages);
  } finally {
    setLogLevel("warn");
    setLogSink(null);
  }
  return messages;
}
