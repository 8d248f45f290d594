// Nix for the runner's jobs (daemon and one-job): per-job NIX_CONFIG, GC
// roots harvested at job end so outputs stay valid for the binary cache, a
// periodic retention sweeper, and a loud warning when the runner itself is a
// Nix trusted-user.

import { execFile } from "node:child_process";
import { userInfo } from "node:os";
import { promisify } from "node:util";
import type { NixConfigSection } from "../config/types.js";
import type { HostBackend } from "../host/sandbox.js";
import { which } from "../host/index.js";
import type { Logger } from "../observability/logger.js";
import { GcRootManager } from "./gcroots.js";
import { withJobNix } from "./job-nix.js";
import { isTrustedUser } from "./nix-cli.js";

export const SWEEP_INTERVAL_MS = 10 * 60_000;

/** What the integration needs to know about one job (the daemon's JobEnvInfo fits). */
export interface NixJobInfo {
  taskId: bigint | number | string;
  repository: string;
  event: Record<string, unknown>;
  /** Full git ref, e.g. refs/heads/main. */
  ref: string;
  runId?: string;
  /** YAML job id. */
  jobId?: string;
}

export type NixUsageListener = (roots: number, bytes: number) => void;

export interface NixIntegration {
  /** Roots are kept (nix.gcroots.enabled and nix-store on PATH). */
  readonly manager: GcRootManager | undefined;
  /** The host backend for one job: NIX_CONFIG in its env, its roots harvested before its workspace goes. */
  hostFor(base: HostBackend, job: NixJobInfo, jobLog: (line: string) => void): HostBackend;
  /** Receives the number of rooted paths and their closure bytes after every harvest and sweep (and the last known value at once). */
  onUsage(listener: NixUsageListener): void;
  /** Trusted-user warning, first sweep, then a sweep every SWEEP_INTERVAL_MS. */
  start(): Promise<void>;
  /** One sweep now; resolves with the run dirs removed. */
  sweep(): Promise<string[]>;
  close(): void;
}

export interface NixIntegrationOptions {
  nix: NixConfigSection;
  stateDir: string;
  log: Logger;
  /** PATH searched for nix-store (default: the runner's). */
  path?: string;
  sweepIntervalMs?: number;
}

export function createNixIntegration(opts: NixIntegrationOptions): NixIntegration {
  const { nix, log } = opts;
  const g = nix.gcroots;
  const haveNix = which("nix-store", [], opts.path ?? process.env.PATH ?? "") !== undefined;
  const manager =
    g.enabled && haveNix
      ? new GcRootManager({
          stateDir: opts.stateDir,
          policy: { ttl: g.ttl, keepLast: g.keep_last, defaultBranchOnly: g.default_branch_only },
        })
      : undefined;
  let timer: NodeJS.Timeout | undefined;
  let listener: NixUsageListener | undefined;
  let last: { roots: number; bytes: number } | undefined;

  const publishUsage = async (): Promise<void> => {
    if (!manager) return;
    try {
      last = await manager.usage();
      listener?.(last.roots, last.bytes);
    } catch (err) {
      log.debug({ err: (err as Error).message }, "nix: could not measure the GC roots");
    }
  };

  const sweep = async (): Promise<string[]> => {
    if (!manager) return [];
    try {
      const removed = await manager.sweep();
      if (removed.length > 0) log.info({ removed: removed.length, dirs: removed }, "nix: expired GC roots removed");
      await publishUsage();
      return removed;
    } catch (err) {
      log.warn({ err: (err as Error).message }, "nix: GC-root sweep failed");
      return [];
    }
  };

  return {
    manager,
    hostFor(base, job, jobLog) {
      return withJobNix(
        base,
        {
          repository: job.repository,
          ref: job.ref,
          defaultBranch: defaultBranchOf(job.event),
          runId: job.runId ?? "0",
          jobId: job.jobId ?? String(job.taskId),
        },
        { manager, nixConfig: nix.job_config, log: jobLog, onHarvest: () => void publishUsage() },
      );
    },
    onUsage(fn) {
      listener = fn;
      if (last) fn(last.roots, last.bytes);
    },
    async start() {
      if (g.enabled && !haveNix) log.info("nix: nix-store is not on PATH: outputs of jobs are not kept alive (nix.gcroots)");
      if (manager) log.info({ dir: manager.root }, "nix: keeping job outputs alive with GC roots");
      if (nix.warn_trusted_user && haveNix) void warnIfTrusted(log);
      await sweep();
      timer = setInterval(() => void sweep(), opts.sweepIntervalMs ?? SWEEP_INTERVAL_MS);
      timer.unref();
    },
    sweep,
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}

export function defaultBranchOf(event: Record<string, unknown>): string | undefined {
  const repo = event.repository;
  if (typeof repo !== "object" || repo === null) return undefined;
  const b = (repo as Record<string, unknown>).default_branch;
  return typeof b === "string" && b !== "" ? b : undefined;
}

async function warnIfTrusted(log: Logger): Promise<void> {
  try {
    const user = userInfo().username;
    const { stdout } = await promisify(execFile)("id", ["-Gn"], { timeout: 5000 });
    const trust = await isTrustedUser(user, stdout.trim().split(/\s+/));
    if (trust.trusted) {
      log.warn(
        { reason: trust.reason },
        `!!! the runner's user "${user}" is a Nix trusted-user (${trust.reason}). Jobs that reach the nix daemon as this ` +
          "user can import unsigned store paths, which a binary cache such as harmonia then signs and serves to every host. " +
          "Remove it from trusted-users, or run jobs as per-job uids (host.uid_range).",
      );
    }
  } catch (err) {
    log.debug({ err: (err as Error).message }, "nix: could not check trusted-users");
  }
}
