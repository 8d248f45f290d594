// Startup self-check: which of the runner's secrets could a job process read
// under the chosen isolation? Returns warnings; the caller logs them.

import type { Identity } from "./cgroup/types.js";
import type { IsolationMode } from "./isolated-backend.js";
import { readableBy, worldReadable } from "./path-access.js";
import { exists } from "./cgroup/cgroup-fs.js";

export interface SecretPath {
  /** What it is, for the message ("runner state dir", "config file", ...). */
  what: string;
  path: string;
}

export interface SelfCheckInput {
  isolation: IsolationMode;
  secrets: SecretPath[];
  /** A job identity to test against (uid modes). */
  jobIdentity?: Identity;
}

export async function selfCheck(input: SelfCheckInput): Promise<string[]> {
  const warnings: string[] = [];
  for (const s of input.secrets) {
    // Store files are world-readable by design and hold no secrets (NixOS passes those as credentials).
    if (s.path.startsWith("/nix/store/")) continue;
    if (!(await exists(s.path))) continue;
    if (input.isolation === "bwrap" || input.isolation === "uid+bwrap") {
      // Hidden by a tmpfs / /dev/null bind in every job; still worth saying when
      // the host itself exposes it to every local user.
      if (await worldReadable(s.path)) {
        warnings.push(`${s.what} ${s.path} is readable by every local user (jobs cannot see it: hidden by bubblewrap); consider chmod o-rwx`);
      }
      continue;
    }
    if (input.isolation === "uid" && input.jobIdentity) {
      if (await readableBy(s.path, input.jobIdentity)) {
        warnings.push(
          `${s.what} ${s.path} is readable by job uid ${input.jobIdentity.uid} (gid ${input.jobIdentity.gid}): ` +
            `make it owner-only (chmod go-rwx) or use isolation uid+bwrap`,
        );
      }
      continue;
    }
    warnings.push(`${s.what} ${s.path} is readable by jobs: isolation "none" runs them as the runner's own user`);
  }
  return warnings;
}
