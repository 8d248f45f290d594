// What works on this host: bubblewrap (as root and as a job uid), setfacl,
// systemd as PID 1. Each probe runs a real command once at startup.

import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { join } from "node:path";
import type { Identity } from "./cgroup/types.js";

/** Looks a program up on PATH (plus the NixOS system profile), like `command -v`. */
/** First executable `name` on `path` (default: the runner's PATH), then in `extra`. */
export function which(name: string, extra: string[] = [], path: string = process.env.PATH ?? ""): string | undefined {
  const dirs = [...path.split(":"), ...extra].filter(Boolean);
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

export const SYSTEM_BIN_DIRS = ["/run/current-system/sw/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"];

export interface BwrapProbe {
  ok: boolean;
  detail: string;
}

/** Runs a minimal sandbox like the real one (own PID namespace, /proc, ro root). */
export function probeBwrap(bwrap: string, as?: Identity): BwrapProbe {
  const args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--unshare-pid", "--die-with-parent", "--new-session"];
  if (!as && process.getuid?.() === 0) args.push("--cap-drop", "ALL");
  args.push("--", "/bin/sh", "-c", "test -d /proc/self && echo ok");
  const r = spawnSync(bwrap, args, {
    encoding: "utf8",
    timeout: 10000,
    env: { PATH: "/usr/bin:/bin" },
    cwd: "/",
    ...(as ? { uid: as.uid, gid: as.gid } : {}),
  });
  if (r.status === 0 && r.stdout.trim() === "ok") return { ok: true, detail: "works" };
  const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split("\n")[0];
  return { ok: false, detail: why ?? "failed" };
}

export function systemdIsInit(): boolean {
  return existsSync("/run/systemd/system");
}
