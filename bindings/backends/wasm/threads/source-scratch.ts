// Per-thread row scratch of a FeatureSource, taken once per op call.
//
// A FeatureSource keeps the buffers its kernels write to between calls and
// takes them in allocate(scope, rows). The threaded attention forms point
// the source at each thread's buffers before recording that thread's kernel
// calls. The first use for a thread lets allocate take the buffers from the
// op's scope; later uses hand the same pointers back in the same order
// (allocate requests the same sizes every time). So the scope does not grow
// with the number of steps, segments and heads, and nothing is allocated
// while workers run when every thread is taken up front.

import type { Scope, WasmBackend } from "../backend.js";
import type { FeatureSource } from "../ops/linear-attention.js";
import type { KernelCall } from "./pool.js";

/** Each thread's saved feature-source scratch for one op call. */
export class SourceScratch {
  private readonly saved: number[][] = [];

  constructor(
    private readonly backend: WasmBackend,
    private readonly scope: Scope,
    private readonly source: FeatureSource,
    private readonly rows: number,
    private readonly threads: number,
  ) {
    for (let t = 0; t < threads; t++) this.use(t);
  }

  /**
   * Records body(t) for each worker thread t with its own feature scratch,
   * and returns those lists with the calling thread's part, which runs
   * body(0) directly once the workers have started. A ticket returned by a
   * kernel in body(0) is then already the real value.
   */
  split(body: (thread: number) => void): { tasks: KernelCall[][]; own: () => void } {
    const tasks: KernelCall[][] = [[]];
    for (let t = 1; t < this.threads; t++) {
      this.use(t);
      tasks.push(this.backend.record(() => body(t)));
    }
    const own = () => {
      this.use(0);
      body(0);
    };
    return { tasks, own };
  }

  /** Points the source's row scratch at thread t's buffers. */
  use(t: number): void {
    const saved = this.saved[t];
    if (saved === undefined) {
      const taken: number[] = [];
      const scope = this.scope;
      const recorder = {
        allocF32: (length: number) => { const ptr = scope.allocF32(length); taken.push(ptr); return ptr; },
        allocBytes: (length: number) => { const ptr = scope.allocBytes(length); taken.push(ptr); return ptr; },
      };
      this.source.allocate(recorder as unknown as Scope, this.rows);
      this.saved[t] = taken;
      return;
    }
    let next = 0;
    const replay = {
      allocF32: () => saved[next++],
      allocBytes: () => saved[next++],
    };
    this.source.allocate(replay as unknown as Scope, this.rows);
  }
}
