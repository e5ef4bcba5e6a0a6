// Worker threads as Node's worker_threads. Only the Node runtime entry
// imports this file.

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ThreadHost, WorkerHandle } from "./pool.js";
import type { WorkerReply } from "./protocol.js";

export const nodeThreadHost: ThreadHost = {
  hardwareConcurrency: () => availableParallelism(),
  spawn(url: URL): WorkerHandle {
    const worker = new Worker(url);
    // An idle worker waits in Atomics.wait and never finishes; unref lets the
    // process exit while workers exist, as it would on one thread.
    // favor.dispose() ends them at once. Adding a "message" listener refs the
    // worker's port again, so unref follows every listener.
    worker.unref();
    return {
      postMessage: (message) => worker.postMessage(message),
      onReply: (handler) => {
        worker.on("message", (reply: WorkerReply) => handler(reply));
        worker.unref();
      },
      onError: (handler) => {
        worker.on("error", (error: Error) => handler(error.message));
        worker.on("exit", (code: number) => handler(`the worker exited with code ${code}`));
        worker.unref();
      },
      terminate: () => void worker.terminate(),
    };
  },
};
