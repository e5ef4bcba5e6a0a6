// Worker threads as Web Workers, for Deno and browsers. A browser page also
// needs cross-origin isolation for SharedArrayBuffer; binary.ts checks that
// before any worker starts.

import type { ThreadHost, WorkerHandle } from "./pool.js";
import type { WorkerReply } from "./protocol.js";

interface WebWorker {
  postMessage(message: unknown): void;
  addEventListener(type: "message" | "error" | "messageerror", listener: (event: { data?: unknown; message?: string }) => void): void;
  terminate(): void;
}

type WebWorkerConstructor = new (url: URL, options: { type: "module" }) => WebWorker;

/** Returns the Web Worker host, or undefined where the global Worker constructor is missing. */
export function webThreadHost(): ThreadHost | undefined {
  const scope = globalThis as { Worker?: WebWorkerConstructor; navigator?: { hardwareConcurrency?: number } };
  const Worker = scope.Worker;
  if (typeof Worker !== "function") return undefined;
  return {
    hardwareConcurrency: () => scope.navigator?.hardwareConcurrency ?? 1,
    spawn(url: URL): WorkerHandle {
      const worker = new Worker(url, { type: "module" });
      // A Web Worker has no query of its state, and its error events cannot
      // arrive while the calling thread waits for a job, so only a stop
      // through this handle is known at once.
      let terminated = false;
      return {
        postMessage: (message) => worker.postMessage(message),
        onReply: (handler) => worker.addEventListener("message", (event) => handler(event.data as WorkerReply)),
        onError: (handler) => {
          worker.addEventListener("error", (event) => handler(event.message ?? "the worker script failed to load"));
          worker.addEventListener("messageerror", () => handler("the worker could not receive the module or the memory"));
        },
        running: () => !terminated,
        terminate: () => {
          terminated = true;
          worker.terminate();
        },
      };
    },
  };
}

/** Returns `host` with a fixed default thread count, or undefined without a host. */
export function withDefaultThreads(host: ThreadHost | undefined, threads: number): ThreadHost | undefined {
  return host === undefined ? undefined : { ...host, defaultThreads: () => threads };
}
