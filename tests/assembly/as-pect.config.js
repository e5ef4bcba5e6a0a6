// as-pect configuration for the AssemblyScript kernel specs. The ISA
// (scalar, simd, relaxed) is chosen by the asconfig passed with --as-config;
// scripts/test.mjs runs the specs once per ISA.
export default {
  entries: ["tests/assembly/**/*.spec.ts"],
  include: ["tests/assembly/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
