// Entry of dist/engine.js (see bundle-loader.ts): the two verbs that run the engine in their own process.
import { execCommand } from "./commands/exec.js";
import { rootProgram, runProgram } from "./program.js";

export async function runExec(argv: string[]): Promise<void> {
  const program = rootProgram();
  execCommand(program);
  await runProgram(program, argv);
}

export async function runWorker(): Promise<void> {
  await import("../worker/entry.js");
}
