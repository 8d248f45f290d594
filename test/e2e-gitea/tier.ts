// One Gitea and one native-runner daemon for a test file of the real-server tier.

import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { Gitea } from "./gitea.js";
import { registerNativeRunner, type RegisteredRunner, type RunnerProcess, type RunnerSettings } from "./runners.js";
import { runScenario, type RunnerControl, type Scenario, type ScenarioResult } from "./scenarios.js";

export interface Tier {
  gitea: Gitea;
  registered: RegisteredRunner;
  control: RunnerControl;
  run(s: Scenario): Promise<ScenarioResult>;
  close(): Promise<void>;
}

export async function startTier(settings: RunnerSettings = {}): Promise<Tier> {
  const gitea = await Gitea.start();
  const root = await mkdtemp("/tmp/nr-gitea-runner-");
  let registered: RegisteredRunner;
  try {
    registered = await registerNativeRunner(gitea, root, { fetchInterval: "300ms", ...settings });
  } catch (err) {
    await gitea.stop();
    throw err;
  }
  let daemon: RunnerProcess = registered.start();
  const control: RunnerControl = {
    current: () => daemon,
    async kill9AndRestart() {
      await daemon.kill9();
      daemon = registered.start();
    },
  };
  let n = 0;
  return {
    gitea,
    registered,
    control,
    run: (s) => runScenario(s, { gitea, runner: control, unique: `${process.pid.toString(36)}${Date.now().toString(36)}${(n++).toString(36)}` }),
    async close() {
      await daemon.stop();
      await gitea.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The daemon's output, for assertion messages. */
export function daemonOutput(t: Tier | undefined): string {
  return t ? `\n--- daemon ---\n${t.control.current().output().split("\n").slice(-60).join("\n")}` : "";
}
