// Counting the jobs an op gives the worker pool, for tests of the threaded forms.

import { backendOf } from "../../dist/internal.js";

/** Returns how many jobs `body` gave the pool of `favor`. */
export function poolJobs(favor, body) {
  const pool = backendOf(favor).pool;
  const run = pool.run;
  let jobs = 0;
  pool.run = (...args) => {
    jobs++;
    return run.apply(pool, args);
  };
  try {
    body();
  } finally {
    pool.run = run;
  }
  return jobs;
}
