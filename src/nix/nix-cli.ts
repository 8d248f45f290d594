import { execFile } from "node:child_process";

export interface NixCliOptions {
  /** Directory holding nix-store / nix; default: found on PATH. */
  binDir?: string;
  env?: NodeJS.ProcessEnv;
}

export function runNix(
  program: "nix-store" | "nix",
  args: string[],
  opts: NixCliOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  const file = opts.binDir ? `${opts.binDir}/${program}` : program;
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${program} ${args.join(" ")}: ${stderr.trim() || err.message}`));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}

/** `nix-store --add-root <link> --realise <path>`: works for a non-root user through the daemon. */
export async function addRoot(link: string, storePath: string, opts?: NixCliOptions): Promise<void> {
  await runNix("nix-store", ["--add-root", link, "--realise", storePath], opts);
}

/** Sum of the closure sizes of `paths` (bytes), counting shared paths once. */
export async function closureBytes(paths: string[], opts?: NixCliOptions): Promise<number> {
  if (paths.length === 0) return 0;
  const { stdout } = await runNix(
    "nix",
    ["--extra-experimental-features", "nix-command", "path-info", "--recursive", "--json", ...paths],
    opts,
  );
  const info = JSON.parse(stdout) as Array<{ path: string; narSize?: number; valid?: boolean }>;
  const seen = new Set<string>();
  let total = 0;
  for (const i of info) {
    if (seen.has(i.path) || i.valid === false) continue;
    seen.add(i.path);
    total += i.narSize ?? 0;
  }
  return total;
}

export interface NixTrust {
  trusted: boolean;
  reason?: string;
}

/**
 * Whether `user` (with `groups`) is a Nix trusted-user per the daemon's
 * configuration. Nix 2.8 cannot report this for the client itself, so we
 * compare against `trusted-users` from `nix show-config`.
 */
export async function isTrustedUser(user: string, groups: string[], opts?: NixCliOptions): Promise<NixTrust> {
  const { stdout } = await runNix(
    "nix",
    ["--extra-experimental-features", "nix-command", "show-config", "--json"],
    opts,
  );
  const cfg = JSON.parse(stdout) as Record<string, { value?: unknown }>;
  const raw = cfg["trusted-users"]?.value;
  const list = Array.isArray(raw) ? raw.map(String) : typeof raw === "string" ? raw.split(/\s+/) : [];
  for (const entry of list) {
    if (entry === "*") return { trusted: true, reason: "trusted-users contains *" };
    if (entry === user) return { trusted: true, reason: `trusted-users contains ${user}` };
    if (entry.startsWith("@") && groups.includes(entry.slice(1))) {
      return { trusted: true, reason: `trusted-users contains ${entry}` };
    }
  }
  return { trusted: false };
}
