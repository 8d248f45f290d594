import type { JobRuntime } from "../job-runtime.js";

/** The collapsed block GitHub shows at the top of a `uses:` step: the action, its inputs and the step env. */
export function writeActionHeader(
  rt: JobRuntime,
  uses: string,
  inputs: Record<string, string>,
  stepEnv: Record<string, unknown> | undefined,
  env: Record<string, string>,
): void {
  rt.log.write(`##[group]Run ${uses}`);
  const names = Object.keys(inputs);
  if (names.length) {
    rt.log.write("with:");
    for (const n of names) rt.log.write(`  ${n}: ${(inputs[n] ?? "").split("\n")[0]}`);
  }
  const envKeys = Object.keys(stepEnv ?? {});
  if (envKeys.length) {
    rt.log.write("env:");
    for (const k of envKeys) rt.log.write(`  ${k}: ${env[k] ?? ""}`);
  }
  rt.log.write("##[endgroup]");
}
