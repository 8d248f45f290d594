// The deployment plan end to end: the Forgejo emulator dispatches
// `actions/checkout@v4` + `nix build` of a trusted repository to the real
// daemon CLI (label native:host, per-job uids, the real nix-daemon), and the
// output outlives the job's workspace until its retention expires.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { makeRepo } from "../helpers/git-http-server.js";
import { createForgejoClient } from "../../src/protocol/index.js";
import {
  BUILD_WORKFLOW, backdate, collectPath, deadPaths, fixtureFlake, groupId, nixUnavailable, registrationTime,
  serveCheckoutAction, startCli, startForge, storePathValid, waitFor, type Cli, type Forge,
} from "./helpers.js";

const UID_START = 3_800_000;
const UID_COUNT = 8;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function metric(port: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

test("nix cache host: checkout + nix build on native:host keeps the output for the cache; untrusted repos are refused", { skip: nixUnavailable(), timeout: 180_000 }, async () => {
  // Job uids must be able to traverse every directory above their workspace.
  const tmp = await mkdtemp(join("/tmp", "nr-nixhost-"));
  await chmod(tmp, 0o755);
  const state = join(tmp, "state");
  await mkdir(state, { mode: 0o700 });
  const gitRoot = join(tmp, "git");
  let forge: Forge | undefined;
  let cli: Cli | undefined;
  try {
    forge = await startForge(gitRoot);
    const { emu, git } = forge;
    await serveCheckoutAction(gitRoot);
    const outName = `nixos-exporter-ci-${process.pid}-${Date.now().toString(36)}`;
    const flake = await fixtureFlake(outName);
    const trusted = await makeRepo(gitRoot, "torjus/nixos-exporter", { "flake.nix": flake });
    const untrusted = await makeRepo(gitRoot, "mallory/exporter", { "flake.nix": flake });

    const client = createForgejoClient({ baseUrl: `${forge.url}/` });
    const reg = await client.register({ name: "nix-cache02-native", token: emu.createRegistrationToken(), version: "test", labels: ["native"] });
    const metricsPort = await freePort();
    const cfgFile = join(state, "config.yaml");
    await writeFile(
      cfgFile,
      `log:
  level: info
  format: json
runner:
  file: ${join(state, ".runner")}
  capacity: 4
  fetch_interval: 200ms
  report_interval: 200ms
  shutdown_timeout: 0s
  trusted_repos: [torjus/nixos-servers, torjus/nixos-exporter, torjus/nixos]
host:
  workdir_parent: ${join(tmp, "work")}
  isolation: uid+bwrap
  cgroups: auto
  uid_range: { start: ${UID_START}, count: ${UID_COUNT} }
  job_gid: ${groupId("nix-users")}
cache:
  enabled: true
  dir: ${join(state, "cache")}
  host: 127.0.0.1
nix:
  gcroots: { enabled: true, ttl: 168h, keep_last: 3, default_branch_only: true }
  job_config: |
    experimental-features = nix-command flakes
    accept-flake-config = false
    substituters =
metrics:
  enabled: true
  addr: 127.0.0.1:${metricsPort}
server:
  connections:
    emu:
      url: ${forge.url}/
      uuid: ${reg.runner!.uuid}
      token: ${reg.runner!.token}
      labels: [native:host]
`,
      { mode: 0o600 },
    );
    const daemon = startCli(["daemon", "-c", cfgFile], { cwd: tmp });
    cli = daemon;
    const done = (jobId: number) =>
      waitFor(`job ${jobId} done`, 90_000, () => (emu.job(jobId)?.status === "done" ? emu.job(jobId)! : undefined), daemon);
    const enqueue = (repo: string, sha: string, ref = "refs/heads/main") =>
      emu.enqueue({
        workflow: BUILD_WORKFLOW,
        workflowFile: "build.yml",
        repo,
        sha,
        ref,
        context: forge!.context,
      }).jobId;

    // (1) the job succeeds, as a per-job uid
    const job1 = await done(enqueue("torjus/nixos-exporter", trusted.commit));
    const log1 = job1.logRows.join("\n");
    assert.equal(job1.result, "success", `${log1}\n--- daemon ---\n${daemon.output()}`);
    assert.ok(job1.logRows.some((r) => r.startsWith("building '/nix/store/") && r.includes(outName)), `the first run builds:\n${log1}`);
    const outPath = job1.logRows.find((r) => r.startsWith("/nix/store/") && r.endsWith(`-${outName}`));
    assert.ok(outPath, `the job printed its output path:\n${log1}`);
    assert.ok(job1.logRows.some((r) => r.includes("host backend: uid+bwrap/")), log1);
    assert.ok(job1.logRows.includes("NIX_CONFIG=experimental-features = nix-command flakes;accept-flake-config = false;substituters =;"), log1);
    const uid = Number(job1.logRows.find((r) => /^\d+$/.test(r)));
    assert.ok(uid >= UID_START && uid < UID_START + UID_COUNT, `ran as a job uid (${uid}), not as the runner:\n${log1}`);
    assert.ok(job1.logRows.some((r) => r.startsWith(`nix: keeping ${outPath} (from ${tmp}/work/`)), log1);
    assert.ok(job1.logRows.indexOf("Job succeeded") > job1.logRows.findIndex((r) => r.startsWith("nix: keeping")), "harvest rows come before the closing row");

    // (2) the output is valid after the job, the workspace is gone, the root sits under the state dir
    assert.ok(storePathValid(outPath), `${outPath} is valid after the job`);
    assert.deepEqual(readdirSync(join(tmp, "work")).filter((n) => n !== "actions" && !n.startsWith("waiting-")), [], "the job's directories were deleted (the next job's waiting sandbox aside)");
    const refDir = join(state, "gcroots", "torjus", "nixos-exporter", "heads_main");
    assert.deepEqual(await readdir(refDir), ["1-build"], "one run dir: <run>-<job>");
    const roots = await waitFor("gcroots metric", 30_000, async () => ((await metric(metricsPort, "native_runner_nix_gcroots")) ?? 0) >= 1 || undefined, daemon);
    assert.ok(roots);
    assert.ok(((await metric(metricsPort, "native_runner_nix_gcroots_bytes")) ?? 0) > 0, "bytes kept alive are reported");

    // (3a) garbage collection keeps it while it is retained
    assert.ok(!deadPaths().has(outPath), "not garbage while rooted");
    const refused = collectPath(outPath);
    assert.equal(refused.deleted, false, "nix refuses to collect a retained output");
    assert.ok(storePathValid(outPath));

    // (4) the same flake again: nothing is rebuilt
    const regTime = registrationTime(outPath);
    const job2 = await done(enqueue("torjus/nixos-exporter", trusted.commit));
    const log2 = job2.logRows.join("\n");
    assert.equal(job2.result, "success", log2);
    assert.ok(job2.logRows.includes(outPath), log2);
    assert.ok(!job2.logRows.some((r) => r.startsWith("building ")), `nothing built in the second run:\n${log2}`);
    assert.equal(registrationTime(outPath), regTime, "the output was not registered again");
    assert.deepEqual((await readdir(refDir)).sort(), ["1-build", "2-build"]);

    // default_branch_only: a run on another branch keeps nothing, and says why
    const job4 = await done(enqueue("torjus/nixos-exporter", trusted.commit, "refs/heads/feature"));
    const log4 = job4.logRows.join("\n");
    assert.equal(job4.result, "success", log4);
    assert.ok(job4.logRows.includes("nix: not keeping 1 output(s): refs/heads/feature is not the default branch (nix.gcroots.default_branch_only)"), log4);
    assert.ok(!existsSync(join(state, "gcroots", "torjus", "nixos-exporter", "heads_feature")));

    // (5) an untrusted repository's task is refused before anything of it runs
    const gitRequests = git.requests;
    const job3 = await done(enqueue("mallory/exporter", untrusted.commit));
    const log3 = job3.logRows.join("\n");
    assert.equal(job3.result, "failure", log3);
    assert.ok(job3.logRows.some((r) => r.includes('"mallory/exporter"') && r.includes("runner.trusted_repos")), log3);
    assert.equal(git.requests, gitRequests, "no action fetch or checkout reached the git server");
    assert.ok(!job3.logRows.some((r) => r.startsWith("Workspace:") || r.startsWith("nix:")), `no job sandbox was made:\n${log3}`);

    // (3b) once the retention has expired, the sweeper (it runs at start) drops the roots, and GC collects the output
    await daemon.stop();
    await backdate(refDir, 8);
    assert.ok(!deadPaths().has(outPath), "a stale root still counts until the sweeper runs");
    const restarted = startCli(["daemon", "-c", cfgFile], { cwd: tmp });
    cli = restarted;
    await waitFor("expired roots swept", 60_000, () => (existsSync(refDir) ? undefined : true), restarted);
    // (Another process may have collected it already; it must not be alive in any case.)
    assert.ok(deadPaths().has(outPath) || !storePathValid(outPath), "garbage once expired");
    if (storePathValid(outPath)) {
      const gc = collectPath(outPath);
      assert.ok(gc.deleted, gc.stderr);
    }
    assert.ok(!storePathValid(outPath), "collected");
  } finally {
    await cli?.stop();
    await forge?.close();
    await rm(tmp, { recursive: true, force: true });
  }
});
