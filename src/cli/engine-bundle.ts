// Entry of dist/engine.js (see bundle-loader.ts): the two verbs that run the engine in their own process. Each
// initialises only its own modules (esbuild keeps an import() inside one bundle lazy): the worker does not load
// exec's console printers and orchestration, nor exec the worker's channel.
import { rootProgram, runProgram } from "./program.js";

export async function runExec(argv: string[]): Promise<void> {
  const { execCommand } = await import("./commands/exec.js");
  const program = rootProgram();
  execCommand(program);
  await runProgram(program, argv);
}

export async function runWorker(): Promise<void> {
  await import("../worker/entry.js");
}
