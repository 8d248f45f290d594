// One Forgejo (emulator + git server behind one origin, serving the fixture
// checkout action as actions/checkout@v4) and one in-process daemon with a
// registered runner, shared by the whole conformance run.

import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startForge, serveCheckoutAction, type Forge } from "../e2e/helpers.js";
import { makeRepo } from "../helpers/git-http-server.js";
import { labelNames, parseConfig } from "../../src/config/index.js";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { createForgejoClient } from "../../src/protocol/index.js";
import { createLogger, silentLogger } from "../../src/observability/logger.js";
import { runJob } from "../../src/engine/run-job.js";

export interface Setup {
  forge: Forge;
  daemon: Daemon;
  dir: string;
  /** Publishes files as the repository `fullName` (branch main); returns the commit. */
  publish(fullName: string, files: Record<string, string>, executable: string[]): Promise<string>;
  close(): Promise<void>;
}

export const RUNNER_LABELS = ["native", "linux"];

export async function startSetup(opts: { capacity: number }): Promise<Setup> {
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
  const config = parseConfig(yaml, join(dir, "config.yaml"), { cwd: dir });
  await mkdir(join(dir, "work"), { recursive: true });
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
