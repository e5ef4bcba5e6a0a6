// Build-time declarations for the few runtime APIs the entries in this
// folder use. The compiler runs without @types/node or Deno's types (see
// tsconfig.json, "types": []), so the shared code cannot reach them by
// accident. tsc does not copy this file into dist/, and no emitted
// declaration refers to it.

declare module "node:fs/promises" {
  export function readFile(path: URL): Promise<Uint8Array>;
}

declare module "node:path" {
  export function resolve(...paths: string[]): string;
}

declare module "node:url" {
  export function pathToFileURL(path: string): URL;
}

/** A .wasm file imported as a module: workerd and bundlers for Workers hand over a compiled WebAssembly.Module. */
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}

declare module "node:os" {
  export function availableParallelism(): number;
}

declare module "node:process" {
  const process: { on(event: "exit", listener: (code: number) => void): void };
  export default process;
}

declare module "node:worker_threads" {
  export class Worker {
    constructor(url: URL);
    postMessage(message: unknown): void;
    on(event: "message", listener: (message: never) => void): this;
    on(event: "error", listener: (error: Error) => void): this;
    on(event: "exit", listener: (code: number) => void): this;
    terminate(): Promise<number>;
    unref(): void;
    readonly performance: { eventLoopUtilization(): { idle: number; active: number; utilization: number } };
  }
  export const parentPort: {
    postMessage(message: unknown): void;
    once(event: "message", listener: (message: unknown) => void): void;
    close(): void;
  } | null;
}
