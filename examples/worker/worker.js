// A Cloudflare Worker that multiplies matrices with favor-wasm.
//   GET /            the product of a fixed 2×3 and 3×2 matrix, as JSON
//   GET /?n=128      also times an n×n product (n from 1 to 512)
// Bundlers for Workers (wrangler, or dev.mjs here) resolve "favor-wasm" to
// the package's workerd entry, which imports the .wasm files as modules.

import { createFavor } from "favor-wasm";

// Instantiated once per isolate, on the first request.
let favorPromise;

export default {
  async fetch(request) {
    favorPromise ??= createFavor();
    const favor = await favorPromise;
    const url = new URL(request.url);

    const a = new Float32Array([1, 2, 3, 4, 5, 6]);
    const b = new Float32Array([7, 8, 9, 10, 11, 12]);
    const c = await favor.matmul(a, b, { m: 2, k: 3, n: 2 });
    const body = { build: favor.info.build, product: [[c[0], c[1]], [c[2], c[3]]] };

    const n = url.searchParams.get("n");
    if (n !== null) {
      const size = Number(n);
      if (!Number.isInteger(size) || size < 1 || size > 512) {
        return Response.json({ error: `n must be an integer from 1 to 512, got ${JSON.stringify(n)}` }, { status: 400 });
      }
      const x = new Float32Array(size * size).map((_, i) => Math.sin(i));
      const y = new Float32Array(size * size).map((_, i) => Math.cos(i));
      // Deployed Workers advance Date.now() and performance.now() only after
      // I/O, so this timing reads 0 ms there. workerd run locally (as by
      // miniflare or wrangler dev) reports the real time.
      const start = performance.now();
      favor.sync.matmul(x, y, { m: size, k: size, n: size });
      body.timing = { n: size, ms: performance.now() - start };
    }
    return Response.json(body);
  },
};
