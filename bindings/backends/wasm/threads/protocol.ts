// The layout of the control block that the main thread and the workers
// share, separate from WASM memory. Per worker slot, in an Int32Array:
//   REQUEST   sequence number of the latest job (the main thread increments
//             it and notifies; QUIT requests that the worker exit);
//   DONE      sequence number of the latest finished job (the worker stores
//             it and notifies);
//   STATUS    0 when the latest job succeeded, 1 when a kernel threw;
//   LENGTH    number of float64 words of the job in the command buffer;
//   MESSAGE   bytes of the UTF-8 error message of a failed job, or of the
//             reason the worker stopped;
//   STATE     ALIVE, or DEAD once the worker reported that it is stopping
//             (it exited or an error escaped its loop); the worker then
//             notifies DONE so a waiting main thread wakes up.
// The worker stores the return value of the job's i-th call in word i of
// its result buffer (0 for kernels that return nothing).
// A job is a list of kernel calls, each encoded as
// [kernel index, argument count, arguments…] in float64 words. Every
// argument of a kernel is an i32, u32 pointer, f32 or f64, and float64
// represents each of them exactly, so a worker passes the same values to the
// kernel that the main thread would.

export const SLOT_INTS = 16;
export const REQUEST = 0;
export const DONE = 1;
export const STATUS = 2;
export const LENGTH = 3;
export const MESSAGE = 4;
export const STATE = 5;

/** STATE values. */
export const ALIVE = 0;
export const DEAD = 1;

/** Request value that makes a worker leave its loop. */
export const QUIT = -1;

/** Float64 words of the command buffer per worker (512 KiB); longer jobs run in several rounds. */
export const COMMAND_WORDS = 65536;

/** Float64 words of the result buffer per worker: one per call, and a call takes at least two command words. */
export const RESULT_WORDS = COMMAND_WORDS / 2;

/** Bytes of the error message buffer per worker. */
export const MESSAGE_BYTES = 1024;

/** The message the main thread posts to a new worker. */
export interface WorkerInit {
  type: "init";
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Int32Array control block of all workers. */
  control: SharedArrayBuffer;
  /** Float64Array command buffers of all workers. */
  commands: SharedArrayBuffer;
  /** Uint8Array error message buffers of all workers. */
  messages: SharedArrayBuffer;
  /** Float64Array result buffers of all workers. */
  results: SharedArrayBuffer;
  /** This worker's slot. */
  slot: number;
  /** Kernel names by index, as the command buffer refers to them. */
  kernels: string[];
  /** This worker's scratch, the arguments of f32_thread_use_scratch: [packA, packB, gemmScratch, cosines]. */
  scratch: [number, number, number, number];
}

/** The message a worker posts back once: ready, or the reason it could not start. */
export type WorkerReply = { type: "ready" } | { type: "failed"; message: string };
