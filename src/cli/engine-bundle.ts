// Entry of dist/engine.js (see bundle-loader.ts): the two verbs that run the engine in their own process. Each
// initialises only its own modules (esbuild keeps an import() inside one bundle lazy): the worker does not load
// exec's console printers, orchestration and argument parser (commander: about 5 ms of a worker's start), nor exec
// the worker's channel.

export async function runExec(argv: string[]): Promise<void> {
  const [{ rootProgram, runProgram }, { execCommand }] = await Promise.all([import("./program.js"), import("./commands/exec.js")]);
  const program = rootProgram();
  execCommand(program);
  await runProgram(program, argv);
}

export async function runWorker(): Promise<void> {
  await import("../worker/entry.js");
}
