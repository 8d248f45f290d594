// A cached remote JavaScript action step against a `run:` step doing the same
// work (write an output and a line of log), in the same run. The action is
// served by a local git HTTP server and fetched once before timing.
//   npx tsx bench/action-step.ts [steps]

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PlainBackend } from "../src/host/plain-backend.js";
import { runJob } from "../src/engine/run-job.js";
import { makeRepo, startGitHttpServer } from "../test/helpers/git-http-server.js";

const N = Number(process.argv[2] ?? 20);

async function timeJob(yaml: string, dir: string, cacheDir: string, url: string): Promise<[number, number]> {
  let start = 0;
  let total = 0;
  const t0 = performance.now();
  const out = await runJob(
    {
      jobKey: "bench",
      workflowYaml: yaml,
      context: { repository: "o/r" },
      secrets: {},
      vars: {},
      needs: {},
      defaultActionsUrl: url,
      actionCacheDir: cacheDir,
    },
    {
      emit: (e) => {
        if (e.type === "step-started") start = performance.now();
        if (e.type === "step-finished") total += performance.now() - start;
      },
      signal: new AbortController().signal,
      host: new PlainBackend(dir),
    },
  );
  if (out.result !== "success") throw new Error(`job ${out.result}`);
  return [total / N, performance.now() - t0];
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "bench-action-"));
  const server = await startGitHttpServer({ root: join(root, "git") });
  try {
    await makeRepo(join(root, "git"), "bench/echo", {
      "action.yml": "name: echo\ninputs:\n  text:\n    default: hi\noutputs:\n  said: {}\nruns:\n  using: node20\n  main: index.js\n",
      "index.js":
        'const fs = require("fs");\nconsole.log(process.env.INPUT_TEXT);\nfs.appendFileSync(process.env.GITHUB_OUTPUT, "said=" + process.env.INPUT_TEXT + "\\n");\n',
    }, { tags: ["v1"] });
    const cache = join(root, "cache");
    const jobs = join(root, "jobs");
    const wrap = (steps: string) => `on: push\njobs:\n  bench:\n    runs-on: native\n    steps:\n${steps}`;
    const actionYaml = wrap(Array.from({ length: N }, () => "      - uses: bench/echo@v1\n        with:\n          text: hello\n").join(""));
    const runYaml = wrap(
      Array.from({ length: N }, () => '      - run: node -e \'require("fs").appendFileSync(process.env.GITHUB_OUTPUT, "said=hello\\n"); console.log("hello")\'\n').join(""),
    );
    // Warm-up: fills the action cache and JITs the engine.
    await timeJob(actionYaml, jobs, cache, server.url);
    await timeJob(runYaml, jobs, cache, server.url);
    const rounds = 3;
    const a: Array<[number, number]> = [];
    const r: Array<[number, number]> = [];
    for (let i = 0; i < rounds; i++) {
      a.push(await timeJob(actionYaml, jobs, cache, server.url));
      r.push(await timeJob(runYaml, jobs, cache, server.url));
    }
    const am = Math.min(...a.map((x) => x[0]));
    const rm_ = Math.min(...r.map((x) => x[0]));
    const aj = Math.min(...a.map((x) => x[1]));
    const rj = Math.min(...r.map((x) => x[1]));
    console.log(`steps per job:                     ${N}`);
    console.log(`cached remote JS action step:      ${am.toFixed(1)} ms/step (best of ${rounds}; a branch/tag ref is re-resolved per job, once)`);
    console.log(`run: step doing the same with node: ${rm_.toFixed(1)} ms/step`);
    console.log(`difference:                        ${(am - rm_).toFixed(1)} ms/step`);
    console.log(`whole job (set-up incl. ref resolution): action ${aj.toFixed(0)} ms, run ${rj.toFixed(0)} ms`);
  } finally {
    await server.close();
    await rm(root, { recursive: true, force: true });
  }
}

await main();
