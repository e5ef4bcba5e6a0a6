// favor.redrawPolicy: the schedule of projection redraws during training,
// on every build. Draw t of a policy must equal projection({ ..., draw: t }).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { assertSameBits } from "../helpers/numeric.js";

const BASE = { features: 6, dim: 4, seed: 31 };

for (const build of ALL_BUILDS) {
  describe(`redrawPolicy (${build})`, { skip: skipReason(build) }, () => {
    test("redraws exactly every redrawEvery steps", async () => {
      const favor = await favorFor(build);
      const policy = favor.sync.redrawPolicy({ ...BASE, redrawEvery: 3 });
      assert.equal(policy.draw, 0);
      assertSameBits(policy.projection, favor.sync.projection(BASE), "initial draw");
      const redrawnAt = [];
      for (let step = 1; step <= 10; step++) {
        if (policy.step()) redrawnAt.push(step);
      }
      assert.deepEqual(redrawnAt, [3, 6, 9]);
      assert.equal(policy.draw, 3);
      assert.equal(policy.stepsSinceRedraw, 1);
      assertSameBits(policy.projection, favor.sync.projection({ ...BASE, draw: 3 }), "after 10 steps");
    });

    test("evaluation mode freezes the projection", async () => {
      const favor = await favorFor(build);
      const policy = favor.sync.redrawPolicy({ ...BASE, redrawEvery: 2 });
      policy.step();
      const before = policy.projection;
      assert.equal(policy.eval(), policy, "eval returns the policy");
      assert.equal(policy.training, false);
      for (let step = 0; step < 5; step++) assert.equal(policy.step(), false);
      assert.equal(policy.projection, before, "same matrix in evaluation");
      assert.equal(policy.stepsSinceRedraw, 1, "evaluation steps are not counted");
      policy.train();
      assert.equal(policy.training, true);
      assert.equal(policy.step(), true, "the second counted step redraws");
      assert.equal(policy.draw, 1);
    });

    test("explicit redraw advances the draw and restarts the count", async () => {
      const favor = await favorFor(build);
      const policy = favor.sync.redrawPolicy({ ...BASE, redrawEvery: 3 });
      policy.step();
      policy.step();
      const old = policy.projection;
      const oldCopy = old.slice();
      const fresh = policy.redraw();
      assert.equal(fresh, policy.projection);
      assert.equal(policy.draw, 1);
      assert.equal(policy.stepsSinceRedraw, 0);
      assertSameBits(old, oldCopy, "the previous matrix is left unchanged");
      assertSameBits(fresh, favor.sync.projection({ ...BASE, draw: 1 }), "draw 1");
      assert.equal(policy.step(), false);
      assert.equal(policy.step(), false);
      assert.equal(policy.step(), true, "three steps after the explicit redraw");
      policy.eval();
      policy.redraw();
      assert.equal(policy.draw, 3, "redraw() works in evaluation mode too");
    });

    test("redrawEvery 0 redraws only on request", async () => {
      const favor = await favorFor(build);
      const policy = favor.sync.redrawPolicy({ ...BASE, redrawEvery: 0 });
      for (let step = 0; step < 100; step++) assert.equal(policy.step(), false);
      assert.equal(policy.draw, 0);
      assert.equal(policy.stepsSinceRedraw, 100);
    });

    test("sequence is deterministic for a seed and differs between seeds", async () => {
      const favor = await favorFor(build);
      const options = { ...BASE, kind: "iid", norms: "sqrt-d", redrawEvery: 1 };
      const a = favor.sync.redrawPolicy(options);
      const b = favor.sync.redrawPolicy(options);
      const c = favor.sync.redrawPolicy({ ...options, seed: 32 });
      const seen = [];
      for (let step = 0; step < 5; step++) {
        assertSameBits(a.projection, b.projection, `step ${step}`);
        assert.ok(a.projection.some((value, i) => value !== c.projection[i]), `seeds 31 and 32 agree at step ${step}`);
        for (const earlier of seen) assert.ok(a.projection.some((value, i) => value !== earlier[i]), `draw ${a.draw} repeats an earlier draw`);
        seen.push(a.projection);
        a.step();
        b.step();
        c.step();
      }
    });

    test("a policy resumes from its state", async () => {
      const favor = await favorFor(build);
      const original = favor.sync.redrawPolicy({ ...BASE, redrawEvery: 4 });
      for (let step = 0; step < 6; step++) original.step();
      const { draw, stepsSinceRedraw, training } = original.state;
      assert.deepEqual({ draw, stepsSinceRedraw, training }, { draw: 1, stepsSinceRedraw: 2, training: true });
      const resumed = favor.sync.redrawPolicy({ ...BASE, redrawEvery: 4, draw, stepsSinceRedraw });
      assertSameBits(resumed.projection, original.projection, "resumed matrix");
      for (let step = 0; step < 9; step++) {
        assert.equal(resumed.step(), original.step(), `step ${step}`);
        assertSameBits(resumed.projection, original.projection, `after step ${step}`);
      }
    });

    test("async form resolves to a policy", async () => {
      const favor = await favorFor(build);
      const policy = await favor.redrawPolicy({ ...BASE, redrawEvery: 2 });
      assertSameBits(policy.projection, favor.sync.projection(BASE), "async policy");
      assert.equal(policy.redrawEvery, 2);
    });
  });
}

describe("redrawPolicy argument checks", () => {
  const cases = [
    ["a missing redrawEvery", [{ ...BASE }], TypeError, /^redrawPolicy: redrawEvery is missing; pass the number of training steps/],
    ["a negative redrawEvery", [{ ...BASE, redrawEvery: -1 }], RangeError, /^redrawPolicy: redrawEvery must be an integer >= 0, got -1$/],
    ["an out option", [{ ...BASE, redrawEvery: 1, out: new Float32Array(24) }], TypeError, /^redrawPolicy: out is not an option here/],
    ["zero features", [{ ...BASE, features: 0, redrawEvery: 1 }], RangeError, /^redrawPolicy: features must be an integer >= 1, got 0$/],
    ["stepsSinceRedraw past the interval", [{ ...BASE, redrawEvery: 3, stepsSinceRedraw: 3 }], RangeError,
      /^redrawPolicy: stepsSinceRedraw is 3, but must be below redrawEvery 3/],
    ["a missing seed", [{ features: 2, dim: 2, redrawEvery: 1 }], TypeError, /^redrawPolicy: seed is missing/],
  ];
  for (const [name, args, type, pattern] of cases) {
    test(`rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.redrawPolicy(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.redrawPolicy(...args), (error) => error instanceof type && pattern.test(error.message));
    });
  }

  test("the last draw cannot be followed", async () => {
    const favor = await favorFor("scalar");
    const policy = favor.sync.redrawPolicy({ ...BASE, redrawEvery: 1, draw: 2 ** 32 - 1 });
    assert.throws(() => policy.redraw(), (error) => error instanceof RangeError && /draw 4294967295 is the last of the seed's 2\^32 draws/.test(error.message));
    assert.equal(policy.draw, 2 ** 32 - 1, "a failed redraw keeps the current draw");
  });
});
