// Nix for daemon jobs: per-job NIX_CONFIG, GC roots harvested at job end
// (so outputs stay valid for the binary cache), a retention sweeper, and a
// loud warning when the runner itself is a Nix trusted-user.

import { execFile } from "node:child_process";
import { userInfo } from "node:os";
import { promisify } from "node:util";
import type { RunnerConfig } from "../config/types.js";
import type { HostBackend } from "../host/sandbox.js";
import type { Logger } from "../observability/logger.js";
import { GcRootManager, isTrustedUser, withJobNix } from "../nix/index.js";
import type { JobEnvInfo } from "./task-runner.js";

const SWEEP_INTERVAL_MS = 60 * 60_000;

export interface NixIntegration {
  /** The host backend for one job, wrapped with NIX_CONFIG and root harvesting. */
  hostFor(base: HostBackend, job: JobEnvInfo, jobLog: (line: string) => void): HostBackend;
  start(): Promise<void>;
  close(): void;
}

export function createNixIntegration(
  cfg: Pick<RunnerConfig, "nix" | "state_dir">,
  log: Logger,
  onUsage?: (roots: number, bytes: number) => void,
): NixIntegration {
  const g = cfg.nix.gcroots;
  const manager = g.enabled
    ? new GcRootManager({
        stateDir: cfg.state_dir,
        policy: { ttl: g.ttl, keepLast: g.keep_last, defaultBranchOnly: g.default_branch_only },
      })
    : undefined;
  let timer: NodeJS.Timeout | undefined;

  const sweep = async () => {
    if (!manager) return;
    try {
      const removed = await manager.sweep();
      if (removed.length > 0) log.info({ removed: removed.length }, "nix: expired GC roots removed");
      if (onUsage) {
        const u = await manager.usage();
        onUsage(u.roots, u.bytes);
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, "nix: GC-root sweep failed");
    }
  };

  return {
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
        { manager, nixConfig: cfg.nix.job_config, log: jobLog, onHarvest: () => void sweepUsage() },
      );
    },
    async start() {
      if (cfg.nix.warn_trusted_user) void warnIfTrusted(log);
      await sweep();
      timer = setInterval(() => void sweep(), SWEEP_INTERVAL_MS);
      timer.unref();
    },
    close() {
      if (timer) clearInterval(timer);
    },
  };

  async function sweepUsage(): Promise<void> {
    if (!manager || !onUsage) return;
    try {
      const u = await manager.usage();
      onUsage(u.roots, u.bytes);
    } catch {
      // metrics only
    }
  }
}

function defaultBranchOf(event: Record<string, unknown>): string | undefined {
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
        `!!! the runner's user "${user}" is a Nix trusted-user: jobs talking to the nix daemon as this user could import unsigned store paths that a binary cache would then sign and serve`,
      );
    }
  } catch (err) {
    log.debug({ err: (err as Error).message }, "nix: could not check trusted-users");
  }
}

