// The worker side of the thread pool, for Node's worker_threads and for Web
// Workers (Deno, browsers). It instantiates the threaded module on the
// shared memory without copying any data (the main thread did that once),
// points its per-thread scratch (GEMM packing buffers, the sine-cosine
// slot) at buffers the main thread reserved for it,
// and then runs jobs: it blocks in Atomics.wait until the main thread posts
// a job, runs the job's kernel calls in order, and stores the job's sequence
// number. It never allocates: the allocator's state lives in the main
// instance's globals and is not thread-safe.

import {
  COMMAND_WORDS, DEAD, DONE, LENGTH, MESSAGE, MESSAGE_BYTES, QUIT, REQUEST, RESULT_WORDS, SLOT_INTS, STATE, STATUS,
  type WorkerInit, type WorkerReply,
} from "./protocol.js";

interface Port {
  post(reply: WorkerReply): void;
  onInit(handler: (init: WorkerInit) => void): void;
  /** Registers a handler that runs when the thread exits (Node's process "exit" event); absent for Web Workers. */
  onExit?(handler: (code: number) => void): void;
  close(): void;
}

async function parentPort(): Promise<Port> {
  const scope = globalThis as unknown as {
    WorkerGlobalScope?: unknown;
    postMessage(message: unknown): void;
    addEventListener(type: "message", listener: (event: { data: unknown }) => void, options?: { once: boolean }): void;
    close(): void;
  };
  if (scope.WorkerGlobalScope !== undefined) {
    return {
      post: (reply) => scope.postMessage(reply),
      onInit: (handler) => scope.addEventListener("message", (event) => handler(event.data as WorkerInit), { once: true }),
      close: () => scope.close(),
    };
  }
  const { parentPort: port } = await import("node:worker_threads");
  if (port === null) throw new Error("favor-wasm worker: started outside a worker thread");
  const { default: process } = await import("node:process");
  return {
    post: (reply) => port.postMessage(reply),
    onInit: (handler) => port.once("message", (data: unknown) => handler(data as WorkerInit)),
    onExit: (handler) => process.on("exit", handler),
    close: () => port.close(),
  };
}

type Kernel = (...args: number[]) => unknown;

/** Reads an AssemblyScript string (UTF-16, byte length stored 4 bytes before it) for abort messages. */
function readString(memory: WebAssembly.Memory, ptr: number): string {
  if (ptr === 0) return "";
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  const units = new Uint16Array(memory.buffer, ptr, bytes >>> 1);
  let text = "";
  for (let i = 0; i < units.length; i += 1024) text += String.fromCharCode(...units.subarray(i, i + 1024));
  return text;
}

function start(init: WorkerInit): Kernel[] {
  const { memory } = init;
  const imports = {
    env: {
      memory,
      abort(message: number, file: number, line: number, column: number): never {
        throw new Error(`abort: ${readString(memory, message)} at ${readString(memory, file)}:${line}:${column}`);
      },
    },
  };
  const instance = new WebAssembly.Instance(init.module, imports);
  const exports = instance.exports as Record<string, unknown>;
  const kernels = init.kernels.map((name) => {
    const fn = exports[name];
    if (typeof fn !== "function") throw new Error(`kernel ${name} is missing from the threaded binary`);
    return fn as Kernel;
  });
  (exports.f32_thread_use_scratch as Kernel)(...init.scratch);
  return kernels;
}

function serve(init: WorkerInit, kernels: Kernel[]): void {
  const control = new Int32Array(init.control);
  const base = init.slot * SLOT_INTS;
  const commands = new Float64Array(init.commands, init.slot * COMMAND_WORDS * 8, COMMAND_WORDS);
  const message = new Uint8Array(init.messages, init.slot * MESSAGE_BYTES, MESSAGE_BYTES);
  const results = new Float64Array(init.results, init.slot * RESULT_WORDS * 8, RESULT_WORDS);
  // Requests start at 1, so 0 is "none yet"; the main thread may post the
  // first one before this loop starts.
  let seen = 0;
  for (;;) {
    Atomics.wait(control, base + REQUEST, seen);
    const request = Atomics.load(control, base + REQUEST);
    if (request === QUIT) return;
    if (request === seen) continue;
    seen = request;
    let status = 0;
    try {
      const length = control[base + LENGTH];
      let at = 0;
      let call = 0;
      while (at < length) {
        const kernel = kernels[commands[at]];
        const count = commands[at + 1];
        const args: number[] = new Array(count);
        for (let i = 0; i < count; i++) args[i] = commands[at + 2 + i];
        const value = kernel(...args);
        results[call++] = typeof value === "number" ? value : 0;
        at += 2 + count;
      }
    } catch (error) {
      status = 1;
      const encoded = new TextEncoder().encode(String((error as Error)?.message ?? error)).subarray(0, MESSAGE_BYTES);
      message.set(encoded);
      control[base + MESSAGE] = encoded.length;
    }
    control[base + STATUS] = status;
    Atomics.store(control, base + DONE, request);
    Atomics.notify(control, base + DONE);
  }
}

/**
 * Marks this worker's slot DEAD with `reason` and wakes the main thread,
 * which may be waiting for this worker's job. Only the first report counts.
 */
let reported = false;
function reportStop(init: WorkerInit, reason: string): void {
  if (reported) return;
  reported = true;
  const control = new Int32Array(init.control);
  const base = init.slot * SLOT_INTS;
  const encoded = new TextEncoder().encode(reason).subarray(0, MESSAGE_BYTES);
  new Uint8Array(init.messages, init.slot * MESSAGE_BYTES, MESSAGE_BYTES).set(encoded);
  control[base + MESSAGE] = encoded.length;
  Atomics.store(control, base + STATE, DEAD);
  Atomics.notify(control, base + DONE);
}

const port = await parentPort();
port.onInit((init) => {
  let kernels: Kernel[];
  try {
    kernels = start(init);
  } catch (error) {
    port.post({ type: "failed", message: String((error as Error)?.message ?? error) });
    port.close();
    return;
  }
  port.post({ type: "ready" });
  // process.exit() inside a kernel call, or an error that escapes the loop
  // (Node ends the thread on it), must not leave the main thread waiting.
  let quitting = false;
  port.onExit?.((code) => {
    if (!quitting) reportStop(init, `it exited with code ${code}`);
  });
  // A macrotask later, so the ready message leaves before the loop blocks this thread.
  setTimeout(() => {
    try {
      serve(init, kernels);
    } catch (error) {
      reportStop(init, `an uncaught error stopped it: ${String((error as Error)?.message ?? error)}`);
      port.close();
      throw error;
    }
    quitting = true;
    port.close();
  }, 0);
});
