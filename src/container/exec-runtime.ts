// The container runtime of `exec`: the local daemon, a network per job, any
// volume allowed (the user runs their own workflows), no socket mounted
// unless --container-daemon-socket names one.

import os from "node:os";
import path from "node:path";
import { randomHex } from "../host/index.js";
import { connectEngine, engineAddress } from "./engine-api.js";
import type { ContainerRuntime } from "./container-backend.js";

export interface ExecContainerFlags {
  /** Container daemon address (default: DOCKER_HOST, else the usual sockets). */
  containerHost?: string;
  /** Docker socket mounted into job containers (default: none). */
  containerDaemonSocket?: string;
  network?: string;
  privileged?: boolean;
  containerOptions?: string;
  pull?: boolean;
}

export async function execContainerRuntime(f: ExecContainerFlags, workdir: string, readOnlyPaths: string[]): Promise<ContainerRuntime> {
  const engine = connectEngine(engineAddress(f.containerHost));
  try {
    await engine.ping();
  } catch (err) {
    throw new Error(`the container daemon does not answer (${engineAddress(f.containerHost)}): ${(err as Error).message}`);
  }
  const socket = f.containerDaemonSocket && f.containerDaemonSocket !== "-" ? f.containerDaemonSocket.replace(/^unix:\/\//, "") : undefined;
  return {
    engine,
    runnerId: `exec-${os.hostname()}-${process.pid}-${randomHex(3)}`,
    workdirParent: path.join(workdir, "jobs"),
    network: f.network ?? "",
    privileged: f.privileged === true,
    options: f.containerOptions ?? "",
    validVolumes: ["**"],
    forcePull: f.pull === true,
    readOnlyPaths,
    ...(socket ? { mountSocket: socket } : {}),
  };
}

/** One runtime for all jobs of a run, made when the first container job starts. */
export function lazyRuntime(make: () => Promise<ContainerRuntime>): () => Promise<ContainerRuntime> {
  let p: Promise<ContainerRuntime> | undefined;
  return () => (p ??= make());
}
