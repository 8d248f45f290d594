// Entry of dist/engine.js (see bundle-loader.ts): the two verbs that run the engine in their own process. Each
// initialises only its own modules (esbuild keeps an import() inside one bundle lazy): the worker does not load
// exec's console printers, orchestration and argument parser (commander: about 5 ms of a worker's start), nor exec
// the worker's channel.

export async function runExec(argv: string[]): Promise<void> {
  const { parseExecArgs, execAction, execCommand } = await import("./commands/exec.js");
  // The common command line is parsed without commander (about 8 ms of exec's start); anything else, help and
  // errors included, goes through it.
  const opts = parseExecArgs(argv);
  if (opts) {
    try {
      await execAction(opts);
    } catch (err) {
      process.stderr.write(`native-runner: ${(err as Error).message ?? String(err)}\n`);
      process.exitCode = process.exitCode || 1;
    }
    return;
  }
  const { rootProgram, runProgram } = await import("./program.js");
  const program = rootProgram();
  execCommand(program);
  await runProgram(program, argv);
}

export async function runWorker(): Promise<void> {
  await import("../worker/entry.js");
}
