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
        worker.on("message", (reply: WorkerReply) => {
          // The first query after the worker's event loop started stores the
          // loop's start time, which later queries need (see running).
          worker.performance.eventLoopUtilization();
          handler(reply);
        });
        worker.unref();
      },
      onError: (handler) => {
        worker.on("error", (error: Error) => handler(error.message));
        worker.on("exit", (code: number) => handler(`the worker exited with code ${code}`));
        worker.unref();
      },
      // Node has no documented synchronous query of a worker's state. Node
      // 20.20 reports an idle time of -1 in the event loop utilization once
      // the worker's thread has stopped, and it reads that state under a lock
      // without the parent's event loop. A live worker's idle time is at least 0.
      // NOTE: this relies on undocumented behaviour. Where it changes, a
      // worker terminated during a job is noticed only through its own DEAD
      // mark, which a terminated thread cannot write, so that job waits forever.
      running: () => worker.performance.eventLoopUtilization().idle >= 0,
      terminate: () => void worker.terminate(),
    };
  },
};
