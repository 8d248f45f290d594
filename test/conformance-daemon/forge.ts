// One Forgejo (emulator + git server behind one origin, serving the fixture
// checkout action as actions/checkout@v4) and one in-process daemon with a
// registered runner, shared by the whole conformance run.

import { spawn } from "node:child_process";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startForge, serveCheckoutAction, type Forge } from "../e2e/helpers.js";
import { makeRepo } from "../helpers/git-http-server.js";
import { labelNames, parseConfig } from "../../src/config/index.js";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { createForgejoClient } from "../../src/protocol/index.js";
import { createLogger, silentLogger } from "../../src/observability/logger.js";
import { runJob as engineRunJob } from "../../src/engine/run-job.js";
import { withWorkflowCalls } from "../../src/exec/workflow-call-task.js";

// In-process, as the job worker runs it.
const runJob = withWorkflowCalls(engineRunJob);

export interface Setup {
  forge: Forge;
  /** The in-process daemon (absent when the real CLI runs it). */
  daemon?: Daemon;
  /** What the daemon process printed (CLI mode). */
  output(): string;
  /** Rejects if the daemon process exits before close() (CLI mode); never settles otherwise. */
  died: Promise<never>;
  dir: string;
  /** Publishes files as the repository `fullName` (branch main); returns the commit. */
  publish(fullName: string, files: Record<string, string>, executable: string[]): Promise<string>;
  close(): Promise<void>;
}

export const RUNNER_LABELS = ["native", "linux"];

/** Bundles the CLI and its job worker from src/ as scripts/build.mjs does, below node_modules so the native addon resolves. */
async function bundleCli(): Promise<string> {
  const { bundleCli: shipped } = (await import(join(REPO_ROOT, "scripts/bundle.mjs"))) as {
    bundleCli: (outdir: string, o?: { sourcemap?: boolean }) => Promise<string>;
  };
  return shipped(join(REPO_ROOT, "node_modules/.cache/conformance-daemon", `cli-${process.pid}`), { sourcemap: false });
}

const REPO_ROOT = join(import.meta.dirname, "../..");

/**
 * `cli`: run the daemon as the real CLI (`native-runner daemon -c config.yaml`,
 * bundled from src/) instead of in this process.
 */
export async function startSetup(opts: { capacity: number; cli?: boolean }): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), "nr-conf-daemon-"));
  const gitRoot = join(dir, "git");
  await mkdir(gitRoot, { recursive: true });
  await serveCheckoutAction(gitRoot);
  const forge = await startForge(gitRoot);
  const client = createForgejoClient({ baseUrl: `${forge.url}/` });
  const reg = await client.register({
    name: "conformance-runner",
    token: forge.emu.createRegistrationToken(),
    version: "test",
    labels: RUNNER_LABELS,
  });
  const yaml = `
log:
  level: ${process.env.NR_TEST_LOG ?? "warn"}
runner:
  file: ${join(dir, ".runner")}
  capacity: ${opts.capacity}
  fetch_interval: 100ms
  report_interval: 200ms
  shutdown_timeout: 0s
  timeout: 10m
  protocol: proto
  report_retry:
    max_retries: 20
    initial_delay: 20ms
    max_delay: 500ms
host:
  workdir_parent: ${join(dir, "work")}
  isolation: none
cache:
  enabled: false
  dir: ${join(dir, "cache")}
server:
  connections:
    forge:
      url: ${forge.url}/
      uuid: ${reg.runner!.uuid}
      token: ${reg.runner!.token}
      labels: [${RUNNER_LABELS.map((l) => `${l}:host`).join(", ")}]
`;
  await mkdir(join(dir, "work"), { recursive: true });
  if (opts.cli) {
    const bundle = await bundleCli();
    const cfgFile = join(dir, "config.yaml");
    await writeFile(cfgFile, yaml);
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
    for (const k of Object.keys(env)) if (/^(ACTIONS_|GITHUB_|FORGEJO_|GITEA_|RUNNER_|INPUT_|STATE_)/.test(k)) delete env[k];
    const child = spawn(process.execPath, [bundle, "daemon", "-c", cfgFile], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    // Never leave a daemon polling a dead emulator behind.
    const killChild = () => child.kill("SIGKILL");
    process.once("exit", killChild);
    let closing = false;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const died = exited.then((): never => {
      if (closing) return new Promise<never>(() => undefined) as never;
      throw new Error(`the daemon exited (code ${child.exitCode}, signal ${child.signalCode}):\n${out.slice(-4000)}`);
    });
    died.catch(() => undefined);
    return {
      forge,
      dir,
      output: () => out,
      died,
      publish: async (fullName, files, executable) => (await makeRepo(gitRoot, fullName, files, { executable })).commit,
      async close() {
        closing = true;
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
          await exited;
          clearTimeout(t);
        }
        process.removeListener("exit", killChild);
        await forge.close();
        await rm(dir, { recursive: true, force: true });
        await rm(bundle, { force: true });
      },
    };
  }
  const config = parseConfig(yaml, join(dir, "config.yaml"), { cwd: dir });
  const log = process.env.NR_TEST_LOG ? createLogger({ level: process.env.NR_TEST_LOG as "debug", format: "json" }) : silentLogger();
  const daemon = startDaemon({
    config,
    connections: config.server.connections,
    host: new PlainBackend(join(dir, "work")),
    log,
    version: "test",
    runJob,
    labelNames: (c) => labelNames(c.labels),
  });
  return {
    forge,
    daemon,
    dir,
    output: () => "",
    died: new Promise<never>(() => undefined),
    async publish(fullName, files, executable) {
      const made = await makeRepo(gitRoot, fullName, files, { executable });
      return made.commit;
    },
    async close() {
      await daemon.shutdown().catch(() => undefined);
      await forge.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
