// Runs as a NON-root runner (the NixOS DynamicUser model) inside a delegated
// cgroup v2: started by nonroot-runner.test.ts; prints one JSON line.

import { randomBytes, createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createHostBackend } from "../../src/host/index.js";
import { hostConfig, run, startVictim } from "./fixture.js";

const fx = JSON.parse(process.env.NR_FIXTURE!) as {
  base: string; stateDir: string; configFile: string; cacheDir: string; hiddenWorld: string; hiddenPrivate: string; workdir: string; hostileScript: string;
};
const logs: string[] = [];
const backend = await createHostBackend({
  host: hostConfig({ workdir_parent: fx.workdir, hidden_paths: [fx.hiddenWorld, fx.hiddenPrivate], resources: { memory_max: 0, cpu_quota: 0, pids_max: 64 } }),
  stateDir: fx.stateDir,
  configFile: fx.configFile,
  cacheDir: fx.cacheDir,
  log: (level, msg) => logs.push(`${level}: ${msg}`),
});
const victim = await backend.prepareJob({ jobKey: "victim" });
const hostile = await backend.prepareJob({ jobKey: "hostile" });
const victimSecret = `VICTIM-${randomBytes(12).toString("hex")}`;
const own = randomBytes(8).toString("hex");
const v = await startVictim(victim, victimSecret);
const mark = `${4000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;
const r = await run(hostile, `bash ${fx.hostileScript}; setsid sleep ${mark} & echo spawned`, {
  OWN_MARK: own,
  FX_BASE: fx.base,
  FX_STATE: fx.stateDir,
  FX_CONFIG: fx.configFile,
  FX_CACHE: fx.cacheDir,
  FX_HIDDEN_WORLD: fx.hiddenWorld,
  FX_HIDDEN_PRIVATE: fx.hiddenPrivate,
  FX_OTHER_ROOT: victim.dirs.root,
  FX_OTHER_WS: victim.dirs.workspace,
  FX_OTHER_HOME: victim.dirs.home,
  FX_RUNNER_PID: String(process.pid),
});
await v.stop();
await hostile.dispose();
await victim.dispose();
const environSha = createHash("sha256").update(await readFile("/proc/self/environ")).digest("hex");
process.stdout.write(JSON.stringify({ name: backend.name, uid: process.getuid!(), out: r.out, victimSecret, own, mark, environSha, logs }) + "\n");
