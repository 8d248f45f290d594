// Evaluates nix/module.nix with nixpkgs' real module system (test/nix/eval-module.nix).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

export const REPO_ROOT = join(import.meta.dirname, "..", "..");

/** $NIXPKGS_LIB, else the vendored copy in shared/vendor/nixpkgs-lib beside the checkout (or beside one of its parents). */
function findNixpkgsLib(): string | undefined {
  if (process.env.NIXPKGS_LIB) return process.env.NIXPKGS_LIB;
  for (let dir = dirname(REPO_ROOT); ; dir = dirname(dir)) {
    const candidate = join(dir, "shared", "vendor", "nixpkgs-lib", "lib");
    if (existsSync(join(candidate, "default.nix"))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

export const NIXPKGS_LIB = findNixpkgsLib();
const hasNix = spawnSync("nix-instantiate", ["--version"]).status === 0;

/** A skip reason when the module cannot be evaluated here, else false. */
export function moduleEvalUnavailable(): string | false {
  if (!hasNix) return "nix-instantiate is not installed (scripts/setup-host.sh installs it)";
  if (!NIXPKGS_LIB) return "no nixpkgs lib/ found (shared/vendor/nixpkgs-lib beside the checkout, or set NIXPKGS_LIB)";
  return false;
}

export interface Service {
  description: string;
  wantedBy: string[];
  wants: string[];
  after: string[];
  path: string[];
  environment: Record<string, string>;
  serviceConfig: Record<string, unknown>;
}

export interface Evaluation {
  services: Record<string, Service>;
  nixSettings: Record<string, unknown>;
  nameDefaultText: string | null;
  hostPackagesDefault: string[];
  packages: Record<string, string>;
}

export type EvalResult = { ok: true; value: Evaluation } | { ok: false; error: string };

/** The system configuration as JSON; `hostPackages` lists package names. */
export function evalModule(config: unknown, packagePaths: Record<string, string> = {}): EvalResult {
  const r = spawnSync(
    "nix-instantiate",
    ["--eval", "--read-write-mode", "--strict", "--json", join(REPO_ROOT, "test/nix/eval-module.nix"),
      "--argstr", "lib", NIXPKGS_LIB ?? "", "--argstr", "config", JSON.stringify(config),
      "--argstr", "packagePaths", JSON.stringify(packagePaths)],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  if (r.status !== 0) return { ok: false, error: r.stderr };
  return { ok: true, value: JSON.parse(r.stdout) as Evaluation };
}

export function mustEval(config: unknown, packagePaths: Record<string, string> = {}): Evaluation {
  const r = evalModule(config, packagePaths);
  if (!r.ok) throw new Error(`evaluation failed:\n${r.error}`);
  return r.value;
}

/** The deployment plan's actions2 instance (docs/deployment-plan.md), as written there. */
export function planInstance(): Record<string, unknown> {
  return {
    enable: true,
    name: "nix-cache02-native",
    url: "https://code.t-juice.club",
    tokenFile: "/run/secrets/forgejo-runner-token-native",
    labels: ["native:host"],
    hostPackages: ["bash", "coreutils", "curl", "gawk", "gitMinimal", "gnused", "nodejs", "wget", "nix"],
    settings: {
      runner: { capacity: 4 },
      cache: { enabled: true, dir: "/var/lib/gitea-runner/actions2/cache" },
    },
  };
}

export function systemWith(instances: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { networking: { hostName: "nix-cache02" }, services: { "native-runner": { instances, ...extra } } };
}

/** The config file a unit's ExecStart passes with --config, parsed (the stub renders JSON). */
export function unitConfigFile(svc: Service): { path: string; text: string } {
  const m = /--config (\S+)$/.exec(String(svc.serviceConfig.ExecStart));
  if (!m) throw new Error(`no --config in ${String(svc.serviceConfig.ExecStart)}`);
  return { path: m[1]!, text: readFileSync(m[1]!, "utf8") };
}
