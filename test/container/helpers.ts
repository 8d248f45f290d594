// Shared by the container executor tests: the local podman service and images
// made by scripts/setup-podman.sh (no registry), and a CLI runner.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../daemon/harness.js";
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

export function cli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
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
    child.on("close", (code) => resolve({ code, out }));
  });
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
