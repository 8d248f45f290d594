/** Iterations per property: bounded in CI, raised with FUZZ_RUNS (see bench/fuzz.sh). */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 200);
