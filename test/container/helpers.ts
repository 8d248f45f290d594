// Shared by the container executor tests: the local podman service and images
// made by scripts/setup-podman.sh (no registry), and a CLI runner.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { hostname } from "node:os";
import { REPO_ROOT, waitUntil } from "../daemon/harness.js";
import { LABEL_RUNNER } from "../../src/container/engine-api.js";
import { connectEngine, engineAddress, type Engine } from "../../src/container/engine-api.js";

export const TEST_IMAGE = "localhost/native-runner-test:4";
export const SERVICE_IMAGE = "localhost/native-runner-svc:2";
export const SOCKET = "/run/podman/podman.sock";

/** The reason container tests cannot run here, or undefined. */
export async function podmanMissing(): Promise<string | undefined> {
  if (!existsSync(SOCKET)) return `no ${SOCKET} (scripts/setup-podman.sh starts it)`;
  try {
    const e = engine();
    await e.ping();
    await e.getImage(TEST_IMAGE).inspect();
    return undefined;
  } catch (err) {
    return `podman service or ${TEST_IMAGE} unavailable: ${(err as Error).message}`;
  }
}

export function engine(): Engine {
  return connectEngine(engineAddress(`unix://${SOCKET}`));
}

const entry = join(REPO_ROOT, "src/cli/entry.ts");
const tsx = import.meta.resolve("tsx");

/** Runs the CLI from source; `pid` names the objects an `exec` made on the container daemon (see execLeftovers). */
export function cli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; out: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", tsx, entry, ...args], {
      cwd,
      env: { ...process.env, HOME: cwd, XDG_STATE_HOME: join(cwd, "state"), XDG_CACHE_HOME: join(cwd, "cache"), NO_COLOR: "1", NR_TEST_LOG: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, pid: child.pid ?? -1 }));
  });
}

/**
 * Containers, networks and volumes an `exec` process left (its runner id names its pid). Other test files
 * make and remove their own objects at the same time, so a global count cannot tell.
 */
export async function execLeftovers(pid: number): Promise<number> {
  const e = engine();
  const filters = JSON.stringify({ label: [LABEL_RUNNER] });
  const prefix = `exec-${hostname()}-${pid}-`;
  const mine = (labels: Record<string, string> | undefined) => (labels?.[LABEL_RUNNER] ?? "").startsWith(prefix);
  const containers = (await e.listContainers({ all: true, filters })).filter((c) => mine(c.Labels)).length;
  const networks = (await e.listNetworks({ filters })).filter((n) => mine(n.Labels)).length;
  const volumes = ((await e.listVolumes({ filters })).Volumes ?? []).filter((v) => mine(v.Labels)).length;
  return containers + networks + volumes;
}

/** Waits until an `exec` process's containers, networks and volumes are gone. */
export async function execCleanedUp(pid: number): Promise<void> {
  await waitUntil(async () => (await execLeftovers(pid)) === 0, 30_000, "no container, network or volume left");
}

/** Containers, networks and volumes carrying this label (key=value). */
export async function labelled(e: Engine, label: string): Promise<{ containers: number; networks: number; volumes: number }> {
  const filters = JSON.stringify({ label: [label] });
  return {
    containers: (await e.listContainers({ all: true, filters })).length,
    networks: (await e.listNetworks({ filters })).length,
    volumes: ((await e.listVolumes({ filters })).Volumes ?? []).length,
  };
}
