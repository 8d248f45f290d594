import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const hasNix = spawnSync("nix-instantiate", ["--version"]).status === 0;
const skip = hasNix ? false : "nix-instantiate is not installed (scripts/setup-host.sh installs it)";
const root = join(import.meta.dirname, "..", "..");

function nixFiles(): string[] {
  const files = ["flake.nix", ...readdirSync(join(root, "nix")).map((f) => join("nix", f))];
  files.push(...readdirSync(join(root, "test", "nix")).filter((f) => f.endsWith(".nix")).map((f) => join("test", "nix", f)));
  return files.filter((f) => f.endsWith(".nix"));
}

test("every .nix file parses", { skip }, () => {
  const files = nixFiles();
  assert.ok(files.includes("nix/module.nix") && files.includes("nix/package.nix"));
  for (const f of files) {
    const r = spawnSync("nix-instantiate", ["--parse", join(root, f)], { encoding: "utf8" });
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
  }
});

interface Evaluated {
  optionNames: string[];
  resourceOptions: string[];
  defaultHostPackages: string[];
  assertions: boolean[];
  unit: {
    path: string[];
    environment: Record<string, string>;
    serviceConfig: Record<string, unknown> & { ExecStart: string; ExecStartPre: string[]; LoadCredential: string[] };
  };
}

test("the module declares the deployment plan's options and a hardened unit", { skip }, () => {
  const out = execFileSync("nix-instantiate", ["--eval", "--strict", "--json", join(root, "test/nix/module-eval.nix")], {
    encoding: "utf8",
  });
  const ev = JSON.parse(out) as Evaluated;
  for (const o of ["enable", "name", "url", "token", "tokenFile", "labels", "hostPackages", "settings",
    "trustedRepos", "resources", "hiddenPaths", "nixRoots", "connections"]) {
    assert.ok(ev.optionNames.includes(o), `option ${o}`);
  }
  assert.deepEqual(ev.resourceOptions.sort(), ["cpuQuota", "memoryMax", "pidsMax"]);
  assert.deepEqual(ev.defaultHostPackages, ["bash", "coreutils", "curl", "gawk", "gitMinimal", "gnused", "nodejs", "wget", "nix"]);
  assert.deepEqual(ev.assertions, [true]);
  const sc = ev.unit.serviceConfig;
  assert.equal(sc.DynamicUser, true);
  assert.equal(sc.Delegate, true);
  assert.equal(sc.Restart, "on-failure");
  assert.equal(sc.Type, "notify");
  assert.equal(sc.StateDirectory, "native-runner/actions2");
  assert.deepEqual(sc.LoadCredential, ["token:/run/secrets/forgejo-runner-token-native"]);
  assert.match(sc.ExecStart, /bin\/native-runner daemon --config /);
  // registration: re-registers when url, name, labels or token change
  const pre = sc.ExecStartPre[0]!;
  assert.match(pre, /register --no-interactive/);
  assert.match(pre, /--token-file "\$CREDENTIALS_DIRECTORY\/token"/);
  for (const v of ["https://code.t-juice.club", "nix-cache02-native", "native:host"]) assert.ok(pre.includes(v));
  assert.match(pre, /registration-hash/);
  // the generated config.yaml carries trust, limits, roots and the plan's settings
  const cfg = JSON.parse(sc.ExecStart.slice(sc.ExecStart.indexOf(":{") + 1)) as Record<string, any>;
  assert.deepEqual(cfg.runner.trusted_repos, ["torjus/nixos-servers", "torjus/nixos-exporter", "torjus/nixos"]);
  assert.equal(cfg.runner.capacity, 4);
  assert.equal(cfg.cache.enabled, true);
  assert.equal(cfg.cache.dir, "/var/lib/native-runner/actions2/cache");
  assert.deepEqual(cfg.host.resources, { memory_max: "8G", cpu_quota: 200 });
  assert.equal(cfg.nix.gcroots.keep_last, 3);
  assert.deepEqual(ev.unit.path, ev.defaultHostPackages);
});
