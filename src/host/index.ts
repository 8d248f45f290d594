// Front door of the host layer: picks (or obeys the config's choice of) an
// isolation mode and a cgroup layer, logs the choice, and returns the backend.

import { resolve } from "node:path";
import { mkdir } from "node:fs/promises";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { homedir } from "node:os";
import type { HostConfig } from "../config/types.js";
import type { HostBackend } from "./sandbox.js";
import type { CgroupLayer, Identity } from "./cgroup/types.js";
import { noCgroupLayer } from "./cgroup/types.js";
import { probeRawCgroups, rawCgroupLayer } from "./cgroup/raw-cgroups.js";
import { ownCgroupPaths } from "./cgroup/cgroup-fs.js";
import { delegatedCgroupLayer, findDelegatedBase, prepareDelegated } from "./cgroup/delegated-v2.js";
import { systemdCgroupLayer, type SystemdTools } from "./cgroup/systemd-scopes.js";
import { IsolatedBackend, type IsolationMode } from "./isolated-backend.js";
import { probeBwrap, SYSTEM_BIN_DIRS, systemdIsInit, which } from "./detect.js";
import { UidPool } from "./uid-pool.js";
import { jobPath } from "./job-env.js";
import { selfCheck, type SecretPath } from "./self-check.js";
import { sweepJobDirs } from "./job-dirs.js";
import { searchableBy } from "./path-access.js";
import { killMatching, listProcesses } from "./proc-scan.js";

export type { IsolationMode } from "./isolated-backend.js";
export { IsolatedBackend } from "./isolated-backend.js";
export { PlainBackend } from "./plain-backend.js";
export { jobBaseEnv, jobPath, INHERITED_ENV } from "./job-env.js";
export { selfCheck } from "./self-check.js";
export { readableBy, worldReadable } from "./path-access.js";
export { createJobDirs, removeJobDirs, sanitizeJobKey } from "./job-dirs.js";
export { killGroupsAndSessions, killUid } from "./proc-scan.js";
export { which } from "./detect.js";
export { PreparedBackend } from "./prepared-backend.js";
export { splitArgs } from "./split-args.js";
export { prestart } from "./prestart.js";
export { wrapSandbox } from "./wrap-sandbox.js";
export { randomHex, randomUuid, nodeCrypto } from "./random.js";

/** Always hidden from jobs (besides the runner's state dir, config file and cache dir). */
export const DEFAULT_HIDDEN_PATHS = ["/run/secrets", "/run/credentials", "/var/lib/vault"];

export interface CreateHostBackendOptions {
  host: HostConfig;
  stateDir: string;
  configFile?: string;
  cacheDir?: string;
  log: (level: "info" | "warn", msg: string) => void;
  /** The .runner file when it lives outside stateDir. */
  registrationFile?: string;
  /** Use this directory as the delegated cgroup v2 base instead of the own cgroup. */
  delegatedBase?: string;
  /** systemd-run/systemctl binaries (default: from PATH). */
  systemd?: SystemdTools;
  /**
   * Shared directories jobs read but never write, also when they sit in a
   * hidden area such as workdir_parent: the fetched-actions cache
   * (actions.cache_dir) when the engine runs actions from it.
   */
  readOnlyPaths?: string[];
  /** bubblewrap binary (default: from PATH); null: behave as if it were not installed. */
  bwrapPath?: string | null;
}

export class HostSetupError extends Error {}

export async function createHostBackend(opts: CreateHostBackendOptions): Promise<HostBackend> {
  const { host, log } = opts;
  const root = process.getuid?.() === 0;
  const instance = instanceId(opts.stateDir);
  const workdirParent = resolve(host.workdir_parent || `${homedir()}/.cache/act`);

  // Identity / filesystem layer.
  const want = host.isolation;
  const uidConfigured = host.uid_range.count > 0 && host.uid_range.start > 0;
  let pool = root && uidConfigured ? new UidPool(host.uid_range.start, host.uid_range.count) : undefined;
  const probeIdentity: Identity | undefined = pool ? { uid: pool.start, gid: host.job_gid ?? pool.start } : undefined;
  // The uid range belongs to this runner: anything still running in it is left from an earlier run.
  if (pool) {
    const { start, count } = host.uid_range;
    const inRange = (p: { uid: number }) => p.uid >= start && p.uid < start + count;
    const found = (await listProcesses()).filter((p) => inRange(p) && p.state !== "Z").length;
    if (found > 0) {
      const left = await killMatching(inRange);
      log("warn", `killed ${found - left.length} process(es) of job uids left by an earlier run`);
      if (left.length > 0) log("warn", `could not kill processes in host.uid_range: ${left.map((p) => p.pid).join(", ")}`);
    }
  }
  // 0711: job uids pass through to their own root but cannot list the others.
  await mkdir(workdirParent, { recursive: true, mode: 0o711 });
  const reachable = probeIdentity ? await searchableBy(workdirParent, probeIdentity) : true;
  const unreachable = `host.workdir_parent ${workdirParent} is not reachable by job uids (a directory on the way lacks o+x); choose a path like /var/lib/native-runner/work`;
  if (pool && !reachable && (host.isolation === "auto")) {
    log("warn", `${unreachable}: not using per-job uids`);
    pool = undefined;
  }
  const bwrap = opts.bwrapPath === null ? undefined : (opts.bwrapPath ?? which("bwrap", SYSTEM_BIN_DIRS));
  const bwrapSelf = bwrap ? probeBwrap(bwrap) : { ok: false, detail: "bwrap not found on PATH" };
  const bwrapJob = bwrap && pool && probeIdentity ? probeBwrap(bwrap, probeIdentity) : bwrapSelf;

  let isolation: IsolationMode;
  const need = (ok: boolean, what: string) => {
    if (!ok) throw new HostSetupError(`host.isolation is "${want}" but ${what}`);
  };
  switch (want) {
    case "none":
      isolation = "none";
      break;
    case "uid":
      need(root, "the runner is not root (per-job uids need a root runner)");
      need(uidConfigured, "host.uid_range is not set");
      need(reachable, unreachable);
      isolation = "uid";
      break;
    case "bwrap":
      need(bwrapSelf.ok, `bubblewrap does not work here: ${bwrapSelf.detail}`);
      isolation = "bwrap";
      break;
    case "uid+bwrap":
      need(root, "the runner is not root (per-job uids need a root runner)");
      need(uidConfigured, "host.uid_range is not set");
      need(reachable, unreachable);
      need(bwrapJob.ok, `bubblewrap does not work for job uids: ${bwrapJob.detail}`);
      isolation = "uid+bwrap";
      break;
    default:
      if (pool && bwrapJob.ok) isolation = "uid+bwrap";
      else if (pool) isolation = "uid";
      else if (bwrapSelf.ok) isolation = "bwrap";
      else {
        throw new HostSetupError(
          "no isolation backend works here (" +
            [root ? (uidConfigured ? (reachable ? "" : unreachable) : "host.uid_range is not set") : "per-job uids need a root runner", `bubblewrap: ${bwrapSelf.detail}`]
              .filter(Boolean)
              .join("; ") +
            '): jobs would run unisolated, with access to the runner\'s token and secrets. Install bubblewrap (or set host.uid_range on a root runner), or set host.isolation: none to accept that explicitly',
        );
      }
      if (!uidConfigured && root) log("warn", "host.uid_range is not set: jobs cannot get their own uid; set it to run jobs as ephemeral uids");
      if (!bwrapSelf.ok) log("warn", `bubblewrap unavailable: ${bwrapSelf.detail}`);
  }

  // Cgroup layer.
  const cgroups = await pickCgroupLayer(opts, root);
  const limits = host.resources;
  const anyLimit = limits.memory_max > 0 || limits.cpu_quota > 0 || limits.pids_max > 0;
  if (anyLimit && cgroups.name === "none") {
    log("warn", "host.resources is set but no cgroup layer is available: memory_max/cpu_quota/pids_max are NOT enforced");
  }

  // Job cgroups and job roots left by a runner that crashed or was killed.
  const staleCgroups = await cgroups.sweepStale?.().catch(() => 0);
  if (staleCgroups) log("warn", `killed and removed ${staleCgroups} job cgroup(s) left by an earlier run`);
  const staleDirs = await sweepJobDirs(workdirParent, instance).catch((err: Error) => {
    log("warn", `sweeping job directories left by an earlier run failed: ${err.message}`);
    return 0;
  });
  if (staleDirs) log("warn", `removed ${staleDirs} job director${staleDirs === 1 ? "y" : "ies"} left by an earlier run`);
  const hiddenPaths = [
    opts.stateDir,
    ...(opts.configFile ? [opts.configFile] : []),
    ...(opts.registrationFile ? [opts.registrationFile] : []),
    ...(opts.cacheDir ? [opts.cacheDir] : []),
    ...DEFAULT_HIDDEN_PATHS,
    ...host.hidden_paths,
  ].map((p) => resolve(p));

  const jobUids = jobUidsFor(isolation, pool);
  const backend = new IsolatedBackend({
    isolation,
    cgroups,
    limits,
    workdirParent,
    path: jobPath(host.path),
    ...(jobUids ? { uidPool: jobUids } : {}),
    ...(jobUids && host.job_gid !== undefined ? { jobGid: host.job_gid } : {}),
    ...(bwrap ? { bwrap } : {}),
    hiddenPaths,
    ...(opts.readOnlyPaths ? { readOnlyPaths: opts.readOnlyPaths.map((p) => resolve(p)) } : {}),
    instance,
    log,
  });

  log("info", `host isolation: ${describeIsolation(isolation, jobUids, host.job_gid)}; cgroups: ${cgroups.description}`);
  if (isolation === "none") {
    log(
      "warn",
      "!!! host isolation is NONE: jobs run as the runner's own user and can read its token (.runner), config file, cache secret and every other job's files and environment. Only use this for trusted repositories on a machine you do not mind losing.",
    );
  } else if (isolation === "bwrap" && root) {
    log(
      "warn",
      "jobs run as root inside bubblewrap (all capabilities dropped): they can read root-owned files that are not hidden and are a trusted Nix user. Set host.uid_range (isolation uid+bwrap) to run them as ephemeral uids.",
    );
  }
  const secrets: SecretPath[] = [
    { what: "runner state dir", path: opts.stateDir },
    ...(opts.configFile ? [{ what: "config file", path: opts.configFile }] : []),
    ...(opts.registrationFile ? [{ what: "registration file", path: opts.registrationFile }] : []),
    ...(opts.cacheDir ? [{ what: "cache dir", path: opts.cacheDir }] : []),
    ...[...DEFAULT_HIDDEN_PATHS, ...host.hidden_paths].map((path) => ({ what: "hidden path", path })),
  ];
  const jobIdentity = jobUids ? probeIdentity : undefined;
  for (const w of await selfCheck({ isolation, secrets, ...(jobIdentity ? { jobIdentity } : {}) })) {
    log("warn", w);
  }
  return backend;
}

function jobUidsFor(isolation: IsolationMode, pool: UidPool | undefined): UidPool | undefined {
  return isolation === "uid" || isolation === "uid+bwrap" ? pool : undefined;
}

function describeIsolation(mode: IsolationMode, pool: UidPool | undefined, gid: number | undefined): string {
  const uids = pool ? `uids ${pool.start}..${pool.start + pool.count - 1}, gid ${gid ?? "= uid"}` : "";
  switch (mode) {
    case "uid+bwrap":
      return `uid+bwrap (ephemeral ${uids}; bubblewrap: read-only root, hidden secrets, own PID namespace)`;
    case "uid":
      return `uid (ephemeral ${uids}; no filesystem namespace: secrets are protected by file permissions only)`;
    case "bwrap":
      return `bwrap (runner's own uid; read-only root, hidden secrets, own PID namespace)`;
    case "none":
      return "none";
  }
}

/** One id per runner instance (by state dir): sweeps at start never touch another instance's jobs. */
export function instanceId(stateDir: string): string {
  return createHash("sha256").update(resolve(stateDir)).digest("hex").slice(0, 8);
}

async function pickCgroupLayer(opts: CreateHostBackendOptions, root: boolean): Promise<CgroupLayer> {
  const mode = opts.host.cgroups;
  const want = ["memory", "cpu", "pids"];
  const delegated = async (): Promise<CgroupLayer | undefined> => {
    const base = opts.delegatedBase ?? (await findDelegatedBase());
    if (!base) return undefined;
    return delegatedCgroupLayer(await prepareDelegated(base, want, (m) => opts.log("warn", m)));
  };
  const systemd = (): CgroupLayer | undefined => {
    const tools = opts.systemd ?? {
      systemdRun: which("systemd-run", SYSTEM_BIN_DIRS) ?? "",
      systemctl: which("systemctl", SYSTEM_BIN_DIRS) ?? "",
    };
    return tools.systemdRun && tools.systemctl ? systemdCgroupLayer(tools) : undefined;
  };
  const raw = async (): Promise<CgroupLayer | undefined> => {
    if (!root) return undefined;
    const info = await probeRawCgroups(`native-runner-${instanceId(opts.stateDir)}`).catch(() => undefined);
    return info ? rawCgroupLayer(info) : undefined;
  };
  switch (mode) {
    case "none":
      return noCgroupLayer;
    case "delegated": {
      const l = await delegated();
      if (!l) throw new HostSetupError('host.cgroups is "delegated" but the runner\'s own cgroup v2 is not writable (run the unit with Delegate=yes)');
      return l;
    }
    case "systemd": {
      const l = systemd();
      if (!l) throw new HostSetupError('host.cgroups is "systemd" but systemd-run/systemctl were not found');
      return l;
    }
    case "raw": {
      const l = await raw();
      if (!l) throw new HostSetupError('host.cgroups is "raw" but cgroupfs is not writable (needs a root runner and mounted cgroup controllers)');
      return l;
    }
    default: {
      // Root can write any cgroup: under systemd, only a unit with Delegate=yes may manage its own subtree.
      const mayDelegate = !(root && systemdIsInit()) || (await unitHasDelegate());
      const d = mayDelegate
        ? await delegated().catch((err: Error) => {
            opts.log("warn", `delegated cgroup unusable: ${err.message}`);
            return undefined;
          })
        : undefined;
      if (d) return d;
      if (root && systemdIsInit()) {
        const s = systemd();
        if (s) return s;
      }
      const r = await raw();
      if (r) return r;
      opts.log("warn", "no usable cgroups: no resource limits, and daemons that leave the job's session can only be found by uid");
      return noCgroupLayer;
    }
  }
}

/** Whether our systemd unit was started with Delegate=yes (asked through systemctl). */
async function unitHasDelegate(): Promise<boolean> {
  const path = (await ownCgroupPaths().catch(() => new Map<string, string>())).get("") ?? "";
  const unit = path.split("/").filter(Boolean).find((c) => c.endsWith(".service"));
  const systemctl = which("systemctl", SYSTEM_BIN_DIRS);
  if (!unit || !systemctl) return false;
  const r = spawnSync(systemctl, ["show", "--property=Delegate", "--value", unit], { encoding: "utf8", timeout: 5000 });
  return r.status === 0 && r.stdout.trim() === "yes";
}
