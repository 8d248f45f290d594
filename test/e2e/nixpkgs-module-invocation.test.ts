// nixpkgs' services.gitea-actions-runner with our package: exactly the
// commands its unit runs (`act_runner register ... --token-file ...` in
// ExecStartPre, then `act_runner daemon --config ...`), through the packaged
// entry point (bin/native-runner.js running the bundle in dist/), with the
// config.yaml the module generates from `settings` and the unit's sparse
// environment. The deployment plan's workflow must then run.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { makeRepo } from "../helpers/git-http-server.js";
import {
  BUILD_WORKFLOW, REPO_ROOT, fixtureFlake, nixUnavailable, serveCheckoutAction, startCli, startForge, storePathValid, waitFor, type Cli, type Forge,
} from "./helpers.js";

const BUNDLE = join(REPO_ROOT, "dist/native-runner.js");

/** scripts/test.sh builds dist/ before the suite; rebuild here only when it is missing or older than the sources. */
function ensureBundle(): void {
  const built = existsSync(BUNDLE) ? statSync(BUNDLE).mtimeMs : 0;
  const newest = Math.max(
    ...readdirSync(join(REPO_ROOT, "src"), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => statSync(join(e.parentPath, e.name)).mtimeMs),
  );
  if (built >= newest) return;
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "scripts/build.mjs")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`node scripts/build.mjs failed: ${r.stderr}`);
}

test("nixpkgs services.gitea-actions-runner invocation: register --token-file, then daemon --config runs the plan's workflow", { skip: nixUnavailable(), timeout: 180_000 }, async () => {
  ensureBundle();
  const tmp = await mkdtemp(join("/tmp", "nr-nixpkgs-"));
  await chmod(tmp, 0o755);
  // StateDirectory=gitea-runner; the instance works in /var/lib/gitea-runner/<name> with HOME there.
  const instanceDir = join(tmp, "var/lib/gitea-runner/actions2");
  await mkdir(instanceDir, { recursive: true, mode: 0o755 });
  // ${package}/bin as nix/package.nix lays it out: native-runner -> the package's bin script, act_runner -> native-runner.
  const binDir = join(tmp, "pkg/bin");
  await mkdir(binDir, { recursive: true });
  await symlink(join(REPO_ROOT, "bin/native-runner.js"), join(binDir, "native-runner"));
  await symlink("native-runner", join(binDir, "act_runner"));
  const gitRoot = join(tmp, "git");
  let forge: Forge | undefined;
  let daemon: Cli | undefined;
  try {
    forge = await startForge(gitRoot);
    const { emu } = forge;
    await serveCheckoutAction(gitRoot);
    const outName = `nixpkgs-module-ci-${process.pid}-${Date.now().toString(36)}`;
    const repo = await makeRepo(gitRoot, "torjus/nixos-exporter", { "flake.nix": await fixtureFlake(outName) });

    // What pkgs.formats.yaml makes of
    //   settings = { runner = { capacity = 4; trusted_repos = [ ... ]; }; cache = { enabled = true; dir = ...; }; };
    // (keys sorted, block style), an immutable file passed to both commands.
    const configFile = join(tmp, "store/config.yaml");
    await mkdir(dirname(configFile), { recursive: true });
    await writeFile(
      configFile,
      `cache:\n  dir: ${instanceDir}/cache\n  enabled: true\nrunner:\n  capacity: 4\n  fetch_interval: 500ms\n  trusted_repos:\n  - torjus/nixos-servers\n  - torjus/nixos-exporter\n  - torjus/nixos\n`,
    );
    await chmod(configFile, 0o444);
    // LoadCredential=token:<tokenFile>: a raw token file.
    const tokenFile = join(tmp, "credentials/token");
    await mkdir(dirname(tokenFile), { recursive: true, mode: 0o700 });
    await writeFile(tokenFile, `${emu.createRegistrationToken()}\n`, { mode: 0o400 });

    // The unit's environment: HOME, and PATH from `path` (hostPackages), nothing else.
    const env: NodeJS.ProcessEnv = { HOME: instanceDir, PATH: `${binDir}:/usr/local/bin:/usr/bin:/bin` };
    const actRunner = join(binDir, "act_runner");

    const register = startCli(
      ["register", "--no-interactive", "--instance", `${forge.url}/`, "--token-file", tokenFile, "--name", "nix-cache02-native",
        "--labels", "native:host", "--config", configFile],
      { cwd: instanceDir, env, argv0: actRunner },
    );
    assert.equal(await register.exited, 0, register.output());
    const reg = JSON.parse(await readFile(join(instanceDir, ".runner"), "utf8")) as { uuid: string; labels: string[] };
    assert.deepEqual(reg.labels, ["native:host"]);

    daemon = startCli(["daemon", "--config", configFile], { cwd: instanceDir, env, argv0: actRunner });
    const d = daemon;
    const run = emu.enqueue({
      workflow: BUILD_WORKFLOW,
      workflowFile: "build.yml",
      repo: "torjus/nixos-exporter",
      sha: repo.commit,
      ref: "refs/heads/main",
      context: forge.context,
    });
    const job = await waitFor("the job to finish", 90_000, () => (emu.job(run.jobId)?.status === "done" ? emu.job(run.jobId)! : undefined), d);
    const log = job.logRows.join("\n");
    assert.equal(job.result, "success", `${log}\n--- daemon ---\n${d.output()}`);
    const outPath = job.logRows.find((r) => r.startsWith("/nix/store/") && r.endsWith(`-${outName}`));
    assert.ok(outPath && storePathValid(outPath), `built and still valid:\n${log}`);
    assert.ok(job.logRows.some((r) => r.startsWith(`nix: keeping ${outPath}`)), log);
    assert.ok(job.logRows.includes("NIX_CONFIG=accept-flake-config = false;experimental-features = nix-command flakes"), `the default per-job NIX_CONFIG:\n${log}`);
    const runner = emu.runners().find((r) => r.uuid === reg.uuid);
    assert.deepEqual(runner?.labels, ["native"]);

    // systemd stops the unit with SIGTERM; Restart=on-failure must not fire after a clean stop.
    d.child.kill("SIGTERM");
    assert.equal(await d.exited, 0, d.output());
  } finally {
    await daemon?.stop();
    await forge?.close();
    await rm(tmp, { recursive: true, force: true });
  }
});
