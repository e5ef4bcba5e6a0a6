// Every case generator of the conformance corpus. An op joins the corpus
// by adding a generator here (and its rules to tolerances.json), then
// rerunning `node scripts/conformance-corpus.mjs`.

import { attentionCases } from "./attention.js";
import { attentionBackwardCases } from "./attention-backward.js";
import { featuresCases } from "./features.js";
import { gemvCases } from "./gemv.js";
import { householderCases } from "./householder.js";
import { kernelCases } from "./kernel.js";
import { matmulCases } from "./matmul.js";
import { projectionCases } from "./projection.js";
import { qrCases } from "./qr.js";
import { randomCases } from "./random.js";
import { softmaxCases } from "./softmax.js";
import { transposeCases } from "./transpose.js";
import { triangularSolveCases } from "./triangular-solve.js";

export const CASE_GENERATORS = [
  matmulCases, randomCases, qrCases, triangularSolveCases, transposeCases, gemvCases, softmaxCases,
  projectionCases, featuresCases, attentionCases, attentionBackwardCases, householderCases, kernelCases,
];
