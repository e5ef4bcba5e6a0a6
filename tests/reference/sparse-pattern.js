// Float64 references for sparsePattern: the construction X = [√d·B·G, G]
// from given normal draws, the dense L×L attention logits and softmax, and
// the precision measures taken from the dense matrix entry by entry and pair
// by pair. They are the readable specification of what the WASM path
// computes without forming the L×L matrix.

/** Returns the float64 logits B_p = ln(A_p / smallest weight of its row) + delta of every nonzero. */
export function logitsReference(pattern, delta) {
  const { rowOffsets, values } = pattern;
  const logits = new Float64Array(values.length);
  for (let i = 0; i + 1 < rowOffsets.length; i++) {
    let rowMin = Infinity;
    for (let p = rowOffsets[i]; p < rowOffsets[i + 1]; p++) rowMin = Math.min(rowMin, values[p]);
    for (let p = rowOffsets[i]; p < rowOffsets[i + 1]; p++) logits[p] = Math.log(values[p] / rowMin) + delta;
  }
  return logits;
}

/**
 * Returns the construction for draws z (d·L standard normals, draw c·L + r
 * belonging to G[r][c]) in float64:
 *   x          L×2d, [√d·B·G, G] with G = z/√d;
 *   magnitude  L×2d, √d·Σ_p |B_p·G[column_p][c]| in the left half and |G| in
 *              the right half, which scale the float32 rounding errors.
 */
export function constructReference(pattern, { d, delta }, z) {
  const length = pattern.rowOffsets.length - 1;
  const width = 2 * d;
  const logits = logitsReference(pattern, delta);
  const x = new Float64Array(length * width);
  const magnitude = new Float64Array(length * width);
  const g = (r, c) => z[c * length + r] / Math.sqrt(d);
  for (let r = 0; r < length; r++) {
    for (let c = 0; c < d; c++) {
      x[r * width + d + c] = g(r, c);
      magnitude[r * width + d + c] = Math.abs(g(r, c));
    }
  }
  for (let i = 0; i < length; i++) {
    for (let c = 0; c < d; c++) {
      let sum = 0;
      let absSum = 0;
      for (let p = pattern.rowOffsets[i]; p < pattern.rowOffsets[i + 1]; p++) {
        const term = logits[p] * g(pattern.columns[p], c);
        sum += term;
        absSum += Math.abs(term);
      }
      x[i * width + c] = Math.sqrt(d) * sum;
      magnitude[i * width + c] = Math.sqrt(d) * absSum;
    }
  }
  return { x, magnitude, logits };
}

/**
 * Returns the dense attention logits S = (x·wq)(x·wk)ᵀ/√d (L×L, float64),
 * their softmax M by rows, and magnitude = (|x|·|wq|)(|x|·|wk|)ᵀ/√d, which
 * bounds the rounding error of any float32 evaluation order of S.
 */
export function attentionReference(x, wq, wk, { length, width, d }) {
  const project = (weights, absolute) => {
    const out = new Float64Array(length * d);
    for (let i = 0; i < length; i++) {
      for (let c = 0; c < d; c++) {
        let sum = 0;
        for (let m = 0; m < width; m++) {
          const term = x[i * width + m] * weights[m * d + c];
          sum += absolute ? Math.abs(term) : term;
        }
        out[i * d + c] = sum;
      }
    }
    return out;
  };
  const q = project(wq, false);
  const k = project(wk, false);
  const qAbs = project(wq, true);
  const kAbs = project(wk, true);
  const logits = new Float64Array(length * length);
  const magnitude = new Float64Array(length * length);
  const scale = 1 / Math.sqrt(d);
  for (let i = 0; i < length; i++) {
    for (let j = 0; j < length; j++) {
      let sum = 0;
      let absSum = 0;
      for (let c = 0; c < d; c++) {
        sum += q[i * d + c] * k[j * d + c];
        absSum += qAbs[i * d + c] * kAbs[j * d + c];
      }
      logits[i * length + j] = sum * scale;
      magnitude[i * length + j] = absSum * scale;
    }
  }
  const softmax = new Float64Array(length * length);
  for (let i = 0; i < length; i++) {
    const row = logits.subarray(i * length, (i + 1) * length);
    const top = Math.max(...row);
    let total = 0;
    for (const value of row) total += Math.exp(value - top);
    for (let j = 0; j < length; j++) softmax[i * length + j] = Math.exp(row[j] - top) / total;
  }
  return { logits, softmax, magnitude };
}

/**
 * Returns the precision measures of the dense attention matrix `softmax`
 * (L×L) against the pattern, straight from their definitions:
 *   distortion of a pair j, j′ of row i = |ln(M_ij/M_ij′) − ln(A_ij/A_ij′)|,
 *   leakage = max_i (max_{j′ off support} M_ij′) / (min_{j on support} M_ij),
 *   off-support mass of row i = Σ_{j′ off support} M_ij′.
 */
export function precisionReference(pattern, softmax) {
  const length = pattern.rowOffsets.length - 1;
  let maxDistortion = 0;
  let distortionSum = 0;
  let pairs = 0;
  let leakage = 0;
  let maxMass = 0;
  let massSum = 0;
  for (let i = 0; i < length; i++) {
    const row = softmax.subarray(i * length, (i + 1) * length);
    const support = new Set();
    const entries = [];
    for (let p = pattern.rowOffsets[i]; p < pattern.rowOffsets[i + 1]; p++) {
      support.add(pattern.columns[p]);
      entries.push({ column: pattern.columns[p], value: pattern.values[p] });
    }
    for (let a = 0; a < entries.length; a++) {
      for (let b = a + 1; b < entries.length; b++) {
        const attention = Math.log(row[entries[a].column] / row[entries[b].column]);
        const target = Math.log(entries[a].value / entries[b].value);
        const distortion = Math.abs(attention - target);
        maxDistortion = Math.max(maxDistortion, distortion);
        distortionSum += distortion;
        pairs++;
      }
    }
    let smallestSupport = Infinity;
    for (const column of support) smallestSupport = Math.min(smallestSupport, row[column]);
    let largestOff = 0;
    let mass = 0;
    for (let j = 0; j < length; j++) {
      if (support.has(j)) continue;
      largestOff = Math.max(largestOff, row[j]);
      mass += row[j];
    }
    leakage = Math.max(leakage, largestOff / smallestSupport);
    maxMass = Math.max(maxMass, mass);
    massSum += mass;
  }
  return {
    maxDistortion,
    meanDistortion: pairs > 0 ? distortionSum / pairs : 0,
    pairs,
    leakage,
    maxOffSupportMass: maxMass,
    meanOffSupportMass: massSum / length,
  };
}
