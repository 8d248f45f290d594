// nix/module.nix evaluated by nixpkgs' own module system (lib.evalModules over
// the module and the NixOS declarations it writes to), for the deployment
// plan's actions2 instance and for the combinations the module must refuse.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load-config.js";
import {
  REPO_ROOT, evalModule, moduleEvalUnavailable, mustEval, planInstance, systemWith, unitConfigFile, type Service,
} from "./eval-module.js";

const skip = moduleEvalUnavailable();
const UNIT = "native-runner-actions2";

function planUnit(instance: Record<string, unknown> = planInstance(), extra: Record<string, unknown> = {}): Service {
  const ev = mustEval(systemWith({ actions2: instance }, extra));
  const svc = ev.services[UNIT];
  assert.ok(svc, `no ${UNIT} in ${Object.keys(ev.services).join(", ")}`);
  return svc;
}

function refused(instance: Record<string, unknown>): string {
  const r = evalModule(systemWith({ actions2: instance }));
  assert.equal(r.ok, false, "the evaluation should fail");
  return r.ok ? "" : r.error;
}

test("every .nix file parses", { skip: spawnSync("nix-instantiate", ["--version"]).status === 0 ? false : "no nix-instantiate" }, () => {
  const files = ["flake.nix", ...readdirSync(join(REPO_ROOT, "nix")).map((f) => join("nix", f)),
    ...readdirSync(join(REPO_ROOT, "test/nix")).map((f) => join("test/nix", f))].filter((f) => f.endsWith(".nix"));
  assert.ok(files.includes("nix/module.nix") && files.includes("nix/package.nix"));
  for (const f of files) {
    const r = spawnSync("nix-instantiate", ["--parse", join(REPO_ROOT, f)], { encoding: "utf8" });
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
  }
});

test("the plan's actions2 instance: the unit systemd gets", { skip }, () => {
  const ev = mustEval(systemWith({ actions2: planInstance() }));
  const svc = ev.services[UNIT]!;
  const pkg = ev.packages;
  const sc = svc.serviceConfig;

  assert.equal(sc.Type, "notify");
  assert.equal(sc.NotifyAccess, "main");
  assert.equal(sc.DynamicUser, true);
  assert.equal(sc.Delegate, true);
  assert.equal(sc.KillMode, "mixed");
  assert.equal(sc.Restart, "on-failure");
  assert.equal(sc.WatchdogSec, 120);
  // shutdownTimeout (600 s by default) plus a margin, never infinity
  assert.equal(sc.TimeoutStopSec, 630);
  // the plan's cache dir lies outside native-runner/actions2: it becomes a state directory of its own
  assert.deepEqual(sc.StateDirectory, ["native-runner/actions2", "gitea-runner/actions2/cache"]);
  assert.equal(sc.CacheDirectory, undefined);
  assert.equal(sc.WorkingDirectory, "/var/lib/native-runner/actions2");
  assert.deepEqual(sc.LoadCredential, ["token:/run/secrets/forgejo-runner-token-native"]);
  assert.deepEqual(svc.after, ["network-online.target", "nix-daemon.socket"]);
  assert.deepEqual(svc.wantedBy, ["multi-user.target"]);

  // ExecStart: the daemon with the generated config, behind the wrapper that hands it the notify socket
  const [perl, wrapper, runner, ...args] = String(sc.ExecStart).split(" ");
  assert.equal(perl, `${pkg.perl}/bin/perl`);
  assert.match(wrapper!, /^\/nix\/store\/[a-z0-9]{32}-sd-notify-exec\.pl$/);
  assert.equal(readFileSync(wrapper!, "utf8"), readFileSync(join(REPO_ROOT, "nix/sd-notify-exec.pl"), "utf8"));
  assert.equal(runner, `${pkg["native-runner"]}/bin/native-runner`);
  assert.deepEqual(args.slice(0, 2), ["daemon", "--config"]);

  // The unit's own path: hostPackages, then what the runner itself runs (bwrap, setpriv), then what NixOS adds.
  const names = ["bash", "coreutils", "curl", "gawk", "gitMinimal", "gnused", "nodejs", "wget", "nix"];
  const nixosDefault = ["coreutils", "findutils", "gnugrep", "gnused", "systemd"];
  assert.deepEqual(svc.path, [...names, "bubblewrap", "util-linux", ...nixosDefault].map((n) => pkg[n]));
  assert.ok(svc.environment.PATH!.startsWith([...names, "bubblewrap", "util-linux", ...nixosDefault].map((n) => `${pkg[n]}/bin`).join(":") + ":"));
  assert.equal(svc.environment.HOME, "/var/lib/native-runner/actions2");

  // The config file: the plan's settings plus what the module adds; jobs get exactly hostPackages on PATH.
  const { text } = unitConfigFile(svc);
  const yaml = JSON.parse(text) as Record<string, any>;
  assert.deepEqual(yaml.runner, {
    capacity: 4, file: "/var/lib/native-runner/actions2/.runner", labels: ["native:host"], shutdown_timeout: "600s",
    trusted_events: [], trusted_repos: [],
  });
  assert.deepEqual(yaml.cache, { enabled: true, dir: "/var/lib/gitea-runner/actions2/cache" });
  assert.equal(yaml.host.path, names.map((n) => `${pkg[n]}/bin`).join(":"));
  assert.equal(yaml.host.workdir_parent, "/var/lib/native-runner/actions2/work");
  assert.deepEqual(yaml.server.connections, {});
  const loaded = parseConfig(text, "native-runner-actions2.yaml", { env: { HOME: "/var/lib/native-runner/actions2" }, cwd: "/var/lib/native-runner/actions2" });
  assert.deepEqual(loaded.warnings, []);
  assert.equal(loaded.runner.capacity, 4);
  assert.equal(loaded.runner.shutdown_timeout, 600_000);
  assert.equal(loaded.cache.dir, "/var/lib/gitea-runner/actions2/cache");
  assert.deepEqual(loaded.runner.labels, ["native:host"]);

  // Registration: the token comes from the credential, labels from the config file only (not twice).
  const pre = sc.ExecStartPre as string[];
  assert.equal(pre.length, 1);
  const script = readFileSync(pre[0]!, "utf8");
  assert.match(script, /register --no-interactive/);
  assert.match(script, /--token-file "\$CREDENTIALS_DIRECTORY\/token"/);
  assert.match(script, /--instance https:\/\/code\.t-juice\.club /);
  assert.match(script, /--name nix-cache02-native /);
  assert.doesNotMatch(script, /--labels/);
  assert.ok(script.includes(`--config ${unitConfigFile(svc).path}`));

  assert.equal(ev.nameDefaultText, "config.networking.hostName");
  assert.deepEqual(ev.hostPackagesDefault, names);
  assert.equal(ev.services["nix-daemon"], undefined, "nix-daemon is left alone unless asked");
  assert.deepEqual(ev.nixSettings, {});
});

test("the registration script registers once, then again only when url, name, labels or token change", { skip }, async () => {
  const tmp = await mkdtemp("/tmp/nr-module-register-");
  try {
    const state = join(tmp, "state");
    const creds = join(tmp, "creds");
    const bin = join(tmp, "pkg/bin");
    await mkdir(state, { recursive: true });
    await mkdir(creds);
    await mkdir(bin, { recursive: true });
    const calls = join(tmp, "calls");
    // Stands in for the package: records its arguments and writes a .runner like register does.
    await writeFile(join(bin, "native-runner"), `#!/bin/sh\necho "$*" >> ${calls}\necho '{}' > .runner\n`);
    await chmod(join(bin, "native-runner"), 0o755);

    const run = (svc: Service, pkgPath: string): string => {
      const text = readFileSync((svc.serviceConfig.ExecStartPre as string[])[0]!, "utf8")
        .replaceAll(`${pkgPath}/bin/native-runner`, join(bin, "native-runner"))
        .replace("cd /var/lib/native-runner/actions2", `cd ${state}`);
      const r = spawnSync("sh", ["-c", text], { encoding: "utf8", env: { PATH: process.env.PATH, CREDENTIALS_DIRECTORY: creds } });
      assert.equal(r.status, 0, r.stderr);
      try {
        return readFileSync(calls, "utf8");
      } catch {
        return "";
      }
    };
    const count = (s: string): number => s.split("\n").filter((l) => l.startsWith("register ")).length;
    const ev = mustEval(systemWith({ actions2: planInstance() }));
    const pkgPath = ev.packages["native-runner"]!;
    const svc = ev.services[UNIT]!;

    await writeFile(join(creds, "token"), "token-one\n");
    assert.equal(count(run(svc, pkgPath)), 1, "first start registers");
    assert.equal(count(run(svc, pkgPath)), 1, "a restart with nothing changed does not");
    await writeFile(join(creds, "token"), "token-two\n");
    assert.equal(count(run(svc, pkgPath)), 2, "a new token registers again");
    const relabelled = planUnit({ ...planInstance(), labels: ["native:host", "nix:host"] });
    assert.equal(count(run(relabelled, pkgPath)), 3, "new labels register again");
    const renamed = planUnit({ ...planInstance(), labels: ["native:host", "nix:host"], name: "cache02-host" });
    assert.equal(count(run(renamed, pkgPath)), 4, "a new name registers again");
    await rm(join(state, ".runner"));
    assert.equal(count(run(renamed, pkgPath)), 5, "a missing .runner registers again");
    const last = (await readFile(calls, "utf8")).trim().split("\n").at(-1)!;
    assert.match(last, /^register --no-interactive --instance https:\/\/code\.t-juice\.club --token-file \S+\/token --name cache02-host --config \/nix\/store\/\S+\.yaml$/);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test("the plan's actions1 instance: docker:// labels with podman wire the unit as nixpkgs does", { skip }, () => {
  const sys = { ...systemWith({ actions1: { ...planInstance(), labels: ["ubuntu-latest:docker://node:20-bookworm"] } }), virtualisation: { podman: { enable: true } } };
  const svc = mustEval(sys).services["native-runner-actions1"]!;
  assert.ok(svc.after.includes("podman.service"), svc.after.join(","));
  assert.equal(svc.environment.DOCKER_HOST, "unix:///run/podman/podman.sock");
  assert.deepEqual(svc.serviceConfig.SupplementaryGroups, ["podman"]);
  const host = mustEval(systemWith({ actions2: planInstance() })).services[UNIT]!;
  assert.ok(!host.after.includes("podman.service"));
  assert.equal(host.environment.DOCKER_HOST, undefined);
});

test("bad combinations fail evaluation with the module's own messages", { skip }, () => {
  const opt = "services.native-runner.instances.actions2";
  assert.match(refused({ ...planInstance(), token: "abc" }), new RegExp(`Failed assertions:\\n\\s*- ${opt}\\.token and ${opt}\\.tokenFile: set exactly one of them`));
  const { tokenFile: _, ...noToken } = planInstance();
  assert.match(refused(noToken), /tokenFile: set exactly one of them/);
  assert.match(refused({ ...planInstance(), labels: [] }), new RegExp(`${opt}\\.labels is empty`));
  assert.match(
    refused({ ...planInstance(), labels: ["native:host", "ubuntu-latest:docker://node:20-bookworm"] }),
    new RegExp(`${opt}\\.labels: ubuntu-latest:docker://node:20-bookworm runs jobs in containers: enable virtualisation.podman or virtualisation.docker`),
  );
  assert.match(refused({ ...planInstance(), labels: ["box:lxc://debian:bookworm"] }), /asks for LXC/);
  assert.match(
    refused({ ...planInstance(), settings: { cache: { dir: "/srv/actions-cache" } } }),
    new RegExp(`${opt}\\.settings\\.cache\\.dir = "/srv/actions-cache": the unit runs with DynamicUser and can only write below /var/lib`),
  );
  assert.match(
    refused({ ...planInstance(), settings: { host: { workdir_parent: "/home/ci/work" } } }),
    /settings\.host\.workdir_parent = "\/home\/ci\/work"/,
  );
  assert.match(refused({ ...planInstance(), settings: { runner: { shutdown_timeout: "3h" } } }), new RegExp(`use ${opt}\\.shutdownTimeout`));
  // On the plan's host, services.gitea-actions-runner's actions1 owns /var/lib/gitea-runner (DynamicUser):
  // the plan's cache dir would be a state directory inside another unit's.
  const withActions1 = evalModule({
    ...systemWith({ actions2: planInstance() }),
    systemd: { services: { "gitea-runner-actions1": { serviceConfig: { DynamicUser: true, StateDirectory: "gitea-runner" } } } },
  });
  assert.equal(withActions1.ok, false);
  assert.match(withActions1.ok ? "" : withActions1.error, new RegExp(
    `${opt}\\.settings\\.cache\\.dir = "/var/lib/gitea-runner/actions2/cache" lies inside /var/lib/gitea-runner, the state directory of gitea-runner-actions1\\.service; ` +
      "systemd cannot give this unit a directory there\\. Leave it unset \\(the default is below /var/lib/native-runner/actions2\\)",
  ));
  const { settings: _s, ...noCacheDir } = planInstance();
  const ok = evalModule({
    ...systemWith({ actions2: { ...noCacheDir, settings: { runner: { capacity: 4 }, cache: { enabled: true } } } }),
    systemd: { services: { "gitea-runner-actions1": { serviceConfig: { DynamicUser: true, StateDirectory: "gitea-runner" } } } },
  });
  assert.ok(ok.ok, ok.ok ? "" : ok.error);
  assert.deepEqual(ok.value.services[UNIT]!.serviceConfig.StateDirectory, ["native-runner/actions2"]);
  // the option types themselves
  assert.match(refused({ ...planInstance(), resources: { cpuQuota: "150" } }), /resources\.cpuQuota/);
  assert.match(refused({ ...planInstance(), shutdownTimeout: -1 }), /shutdownTimeout/);
});

test("writable directories: /var/lib and /var/cache become state and cache directories, relative ones stay in the state dir", { skip }, () => {
  const sc = planUnit({
    ...planInstance(),
    settings: { cache: { dir: "/var/cache/actions2-cache" }, host: { workdir_parent: "work2" }, actions: { cache_dir: "/var/lib/native-runner/actions2/actions" } },
  }).serviceConfig;
  assert.deepEqual(sc.StateDirectory, ["native-runner/actions2"]);
  assert.deepEqual(sc.CacheDirectory, ["actions2-cache"]);
});

test("limits, trusted events, timeouts and the name default", { skip }, () => {
  const ev = mustEval(systemWith(
    {
      actions2: {
        ...planInstance(),
        name: undefined,
        trustedRepos: ["torjus/*"],
        trustedEvents: ["push", "workflow_dispatch"],
        resources: { memoryMax: "8G", cpuQuota: "150%", pidsMax: 4096 },
        shutdownTimeout: 3600,
        watchdogSec: 0,
      },
      other: { ...planInstance(), resources: { cpuQuota: 250 }, settings: {} },
    },
    { nixDaemon: { memoryMax: "16G", cpuQuota: 300, maxJobs: 2, cores: 4 } },
  ));
  const svc = ev.services[UNIT]!;
  const yaml = JSON.parse(unitConfigFile(svc).text) as Record<string, any>;
  assert.equal(yaml.runner.trusted_events.join(","), "push,workflow_dispatch");
  assert.deepEqual(yaml.runner.trusted_repos, ["torjus/*"]);
  assert.deepEqual(yaml.host.resources, { memory_max: "8G", cpu_quota: "150%", pids_max: 4096 });
  assert.equal(yaml.runner.shutdown_timeout, "3600s");
  assert.equal(svc.serviceConfig.TimeoutStopSec, 3630);
  assert.equal(svc.serviceConfig.WatchdogSec, undefined);
  const loaded = parseConfig(unitConfigFile(svc).text, "c.yaml", { env: { HOME: "/h" }, cwd: "/h" });
  assert.deepEqual(loaded.warnings, []);
  assert.equal(loaded.host.resources.cpu_quota, 150);
  assert.deepEqual(loaded.runner.trusted_events, ["push", "workflow_dispatch"]);
  const other = JSON.parse(unitConfigFile(ev.services["native-runner-other"]!).text) as Record<string, any>;
  assert.equal(other.host.resources.cpu_quota, "250%");
  // name falls back to networking.hostName
  assert.match(readFileSync((svc.serviceConfig.ExecStartPre as string[])[0]!, "utf8"), / --name nix-cache02 /);
  // builds are bounded on nix-daemon, where they run
  assert.deepEqual(ev.services["nix-daemon"]?.serviceConfig, { MemoryMax: "16G", OOMPolicy: "continue", CPUQuota: "300%" });
  assert.deepEqual(ev.nixSettings, { "max-jobs": 2, cores: 4 });
});

test("pre-registered connections: no registration step, one credential per connection", { skip }, () => {
  const { tokenFile: _t, url: _u, ...rest } = planInstance();
  const svc = planUnit({
    ...rest,
    connections: { forgejo: { url: "https://code.t-juice.club", uuid: "8b0f3c9e-0b64-4a39-9f16-3cfd3a4e2a10", tokenFile: "/run/secrets/runner-token" } },
  });
  assert.deepEqual(svc.serviceConfig.ExecStartPre, []);
  assert.deepEqual(svc.serviceConfig.LoadCredential, ["forgejo-token:/run/secrets/runner-token"]);
  const yaml = JSON.parse(unitConfigFile(svc).text) as Record<string, any>;
  assert.equal(yaml.runner.labels, undefined);
  assert.deepEqual(yaml.server.connections.forgejo, {
    url: "https://code.t-juice.club", uuid: "8b0f3c9e-0b64-4a39-9f16-3cfd3a4e2a10",
    token_url: "file:$CREDENTIALS_DIRECTORY/forgejo-token", labels: ["native:host"],
  });
});
