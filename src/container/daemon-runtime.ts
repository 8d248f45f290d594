// The container runtime of the daemon: the container.* keys, the daemon
// address, and the start-up sweep of what a previous (killed) process left.

import { createHash } from "node:crypto";
import { join } from "node:path";
import type { RunnerConfig } from "../config/types.js";
import { connectEngine, engineAddress, socketPath } from "./engine-api.js";
import { sweepRunner } from "./cleanup.js";
import type { ContainerRuntime } from "./container-backend.js";

/** Identifies one runner instance's objects on the container daemon: its state directory. */
export function runnerIdFor(stateDir: string): string {
  return createHash("sha256").update(stateDir).digest("hex").slice(0, 16);
}

export interface DaemonRuntimeResult {
  runtime: ContainerRuntime;
  /** Objects removed by the start-up sweep. */
  swept: { containers: number; networks: number; volumes: number };
}

export async function daemonContainerRuntime(
  cfg: RunnerConfig,
  warn: (msg: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DaemonRuntimeResult> {
  const c = cfg.container;
  const configured = c.docker_host !== "-" && c.docker_host !== "automount" ? c.docker_host : undefined;
  const address = engineAddress(configured, env);
  const engine = connectEngine(address, c.docker_timeout || undefined);
  const runtime: ContainerRuntime = {
    engine,
    runnerId: runnerIdFor(cfg.state_dir),
    workdirParent: join(cfg.host.workdir_parent, "containers"),
    network: c.network,
    privileged: c.privileged,
    options: c.options,
    validVolumes: [...c.valid_volumes],
    forcePull: c.force_pull,
    forceRebuild: c.force_rebuild,
    readOnlyPaths: [cfg.actions.cache_dir],
    ...(c.docker_host !== "-" && socketPath(address) ? { mountSocket: socketPath(address)! } : {}),
  };
  let swept = { containers: 0, networks: 0, volumes: 0 };
  try {
    await engine.ping();
    swept = await sweepRunner(engine, runtime.runnerId);
  } catch (err) {
    const msg = `the container daemon at ${address} does not answer: ${(err as Error).message}`;
    if (c.require_docker) throw new Error(`${msg} (container.require_docker is true)`);
    warn(`${msg}; container jobs fail until it does`);
  }
  return { runtime, swept };
}
