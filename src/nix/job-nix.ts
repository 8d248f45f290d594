import { join } from "node:path";
import type { HostBackend, JobSandbox, PrepareJobOptions } from "../host/sandbox.js";
import { wrapSandbox } from "../host/index.js";
import type { GcRootManager, HarvestResult } from "./gcroots.js";

/** The file-command a step appends store paths to, to keep them rooted. */
export const DECLARED_ROOTS_ENV = "NATIVE_RUNNER_NIX_ROOTS";

export interface JobNixInfo {
  repository: string;
  ref: string;
  defaultBranch?: string;
  runId: string;
  jobId: string;
}

export interface JobNixOptions {
  manager?: GcRootManager;
  /** Per-job NIX_CONFIG; "" leaves NIX_CONFIG unset. */
  nixConfig: string;
  /** Lines for the job log (kept paths, notes). */
  log: (line: string) => void;
  onHarvest?: (result: HarvestResult) => void;
}

/**
 * Wraps a host backend for one job: adds NIX_CONFIG and the declared-roots
 * file to the job environment, and harvests the job's GC roots just before
 * the sandbox (and with it the workspace) is disposed.
 */
export function withJobNix(inner: HostBackend, info: JobNixInfo, opts: JobNixOptions): HostBackend {
  return {
    name: inner.name,
    async prepareJob(p: PrepareJobOptions): Promise<JobSandbox> {
      const sb = await inner.prepareJob(p);
      const declaredFile = join(sb.dirs.temp, "nix-roots");
      const baseEnv: Record<string, string> = { ...sb.baseEnv, [DECLARED_ROOTS_ENV]: declaredFile };
      if (opts.nixConfig) baseEnv.NIX_CONFIG = opts.nixConfig;
      let harvested = false;
      const harvest = async () => {
        if (harvested || !opts.manager) return;
        harvested = true;
        // Processes first: a still-running build could add roots after the scan.
        await sb.killAll();
        try {
          const r = await opts.manager.harvest({ ...info, workspace: sb.dirs.workspace, declaredFile });
          for (const k of r.kept) opts.log(`nix: keeping ${k.storePath} (from ${k.from})`);
          for (const n of r.notes) opts.log(`nix: ${n}`);
          if (r.dir) opts.log(`nix: ${r.kept.length} output(s) rooted under ${r.dir}`);
          opts.onHarvest?.(r);
        } catch (err) {
          opts.log(`nix: could not harvest GC roots: ${(err as Error).message}`);
        }
      };
      return wrapSandbox(sb, {
        baseEnv,
        async dispose() {
          await harvest();
          await sb.dispose();
        },
      });
    },
  };
}
