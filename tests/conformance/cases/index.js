// Every case generator of the conformance corpus. An op joins the corpus
// by adding a generator here (and its rules to tolerances.json), then
// rerunning `node scripts/conformance-corpus.mjs`.

import { gemvCases } from "./gemv.js";
import { matmulCases } from "./matmul.js";
import { qrCases } from "./qr.js";
import { randomCases } from "./random.js";
import { softmaxCases } from "./softmax.js";
import { transposeCases } from "./transpose.js";
import { triangularSolveCases } from "./triangular-solve.js";

export const CASE_GENERATORS = [
  matmulCases, randomCases, qrCases, triangularSolveCases, transposeCases, gemvCases, softmaxCases,
];
