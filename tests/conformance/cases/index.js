// Every case generator of the conformance corpus. An op joins the corpus
// by adding a generator here (and its rules to tolerances.json), then
// rerunning `node scripts/conformance-corpus.mjs`.

import { matmulCases } from "./matmul.js";

export const CASE_GENERATORS = [matmulCases];
