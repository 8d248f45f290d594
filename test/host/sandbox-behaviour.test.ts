// Behaviour of the job sandbox beyond the hostile-job matrix: environment
// allow-list, uid pool, job directories, git without a passwd entry, files
// the runner writes for the job, cancellation, hidden path resolution.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile, readdir, chmod } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createHostBackend, HostSetupError, jobBaseEnv, readableBy, worldReadable } from "../../src/host/index.js";
import { UidPool, UidPoolExhausted } from "../../src/host/uid-pool.js";
import { listProcesses } from "../../src/host/proc-scan.js";
import { resolveHidden, bwrapArgs } from "../../src/host/bwrap-args.js";
import { backendFor, hostConfig, isRoot, makeFixture, missingFeature, processesWith, run, type Fixture } from "./fixture.js";

const UID_START = 3_300_000;

describe("job environment allow-list", () => {
  it("copies only PATH/HOME/TMPDIR/LANG/LC_*/TZ/TERM (+USER/LOGNAME for job uids)", () => {
    const env = jobBaseEnv({
      path: "/run/x/bin",
      home: "/w/home",
      temp: "/w/tmp",
      user: "job123",
      source: { PATH: "/daemon/bin", LANG: "de_DE.UTF-8", LC_TIME: "C", TZ: "UTC", TERM: "dumb", CREDENTIALS_DIRECTORY: "/run/credentials/x", TOKEN: "t", NOTIFY_SOCKET: "/run/s" },
    });
    assert.deepEqual(env, {
      PATH: "/run/x/bin", HOME: "/w/home", TMPDIR: "/w/tmp", LANG: "de_DE.UTF-8", LC_TIME: "C", TZ: "UTC", TERM: "dumb", USER: "job123", LOGNAME: "job123",
    });
    assert.equal(jobBaseEnv({ path: "/p", home: "/h", temp: "/t", source: {} }).LANG, "C.UTF-8");
  });
});

describe("uid pool", () => {
  it("never hands one uid to two jobs, frees, and reports exhaustion", async () => {
    const pool = new UidPool(3_390_000, 3);
    const got = [await pool.allocate(), await pool.allocate(), await pool.allocate()];
    assert.equal(new Set(got).size, 3);
    await assert.rejects(pool.allocate(), UidPoolExhausted);
    pool.free(got[1]!);
    assert.equal(await pool.allocate(), got[1]);
    assert.throws(() => new UidPool(0, 10), /host.uid_range/);
  });

  it("skips a uid that still owns processes", { skip: isRoot ? false : "needs root to start a process as another uid" }, async () => {
    const busy = 3_391_000;
    const child = spawn("/bin/sleep", ["30"], { uid: busy, gid: busy, stdio: "ignore" });
    await new Promise((r) => child.once("spawn", r));
    try {
      const pool = new UidPool(busy, 2);
      assert.equal(await pool.allocate(), busy + 1);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("hands out a uid found busy once its processes are gone and no other uid is free", { skip: isRoot ? false : "needs root to start a process as another uid" }, async () => {
    const busy = 3_391_100;
    const child = spawn("/bin/sleep", ["30"], { uid: busy, gid: busy, stdio: "ignore" });
    await new Promise((r) => child.once("spawn", r));
    const pool = new UidPool(busy, 2);
    try {
      assert.equal(await pool.allocate(), busy + 1);
      await assert.rejects(pool.allocate(), UidPoolExhausted, "the busy uid is not handed out while its process runs");
    } finally {
      child.kill("SIGKILL");
    }
    await new Promise((r) => child.once("exit", r));
    for (let i = 0; i < 100 && (await listProcesses()).some((p) => p.uid === busy && p.state !== "Z"); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await pool.allocate(), busy);
  });
});

describe("uid pool and zombies", () => {
  it("takes a uid whose only process is an unreaped zombie (a job that just ended)", { skip: isRoot ? false : "needs root to start a process as another uid" }, async () => {
    const uid = 3_392_000;
    // The setpriv child exits as `uid`; its parent then execs sleep, which never reaps it.
    const parent = spawn("/bin/sh", ["-c", `setpriv --reuid=${uid} --regid=${uid} --clear-groups true & exec sleep 30`], { stdio: "ignore" });
    try {
      const zombie = async () => (await listProcesses()).some((p) => p.uid === uid && p.state === "Z");
      for (let i = 0; i < 100 && !(await zombie()); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(await zombie(), "a zombie owned by the uid exists");
      assert.ok(!(await listProcesses()).some((p) => p.uid === uid && p.state !== "Z"), "and nothing else of the uid runs");
      assert.equal(await new UidPool(uid, 1).allocate(), uid);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});

describe("hidden path resolution and bwrap arguments", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp("/var/tmp/nr-hidden-");
    await mkdir(join(dir, "state/sub"), { recursive: true });
    await writeFile(join(dir, "config.yaml"), "x");
    await symlink(join(dir, "state"), join(dir, "state-link"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("skips missing paths, follows symlinks, folds nested paths and binds /dev/null over files", async () => {
    const hidden = await resolveHidden([join(dir, "missing"), join(dir, "state/sub"), join(dir, "state-link"), join(dir, "config.yaml"), "/"]);
    assert.deepEqual(hidden, [
      { path: join(dir, "state"), kind: "dir" },
      { path: join(dir, "config.yaml"), kind: "file" },
    ]);
    const dirs = { root: "/w/j1", workspace: "/w/j1/workspace", temp: "/w/j1/tmp", home: "/w/j1/home", toolCache: "/w/j1/tc" };
    const a = bwrapArgs({ hidden, jobsParent: "/w", dirs, asRoot: true }, dirs.workspace).join(" ");
    assert.ok(a.startsWith("--ro-bind / / --dev /dev --proc /proc --tmpfs /tmp"), a);
    assert.ok(a.includes(`--tmpfs ${dir}/state --ro-bind /dev/null ${dir}/config.yaml --tmpfs /w --bind /w/j1 /w/j1`), a);
    assert.ok(a.includes("--unshare-pid") && a.includes("--die-with-parent") && a.includes("--new-session") && a.includes("--cap-drop ALL"), a);
    const exec = bwrapArgs({ hidden: [], jobsParent: "/w", dirs: { ...dirs, workspace: "/src/repo" }, asRoot: false }, "/src/repo").join(" ");
    assert.ok(exec.includes("--bind /src/repo /src/repo") && !exec.includes("--cap-drop"), exec);
  });

  it("tells whether a uid can read a path from the mode bits along it", async () => {
    await chmod(dir, 0o755);
    await chmod(join(dir, "config.yaml"), 0o644);
    assert.equal(await worldReadable(join(dir, "config.yaml")), true);
    await chmod(join(dir, "config.yaml"), 0o640);
    assert.equal(await worldReadable(join(dir, "config.yaml")), false);
    const st = await stat(join(dir, "config.yaml"));
    assert.equal(await readableBy(join(dir, "config.yaml"), { uid: 4_000_000, gid: st.gid }), true, "group-readable for its group");
    await chmod(dir, 0o700);
    assert.equal(await readableBy(join(dir, "config.yaml"), { uid: 4_000_000, gid: st.gid }), false, "parent not searchable");
  });
});

describe("job sandbox (per-job uid)", { skip: isRoot ? false : "needs root (per-job uids)" }, () => {
  let fx: Fixture;
  before(async () => {
    fx = await makeFixture();
  });
  after(() => fx?.cleanup());

  it("gives the job a runner-owned root with its own 0700 directories, and no daemon environment", async () => {
    process.env.NR_TEST_DAEMON_ONLY = "must-not-reach-jobs";
    const { backend } = await backendFor(fx, { isolation: "uid+bwrap", cgroups: "raw", uid_range: { start: UID_START, count: 10 } });
    const sb = await backend.prepareJob({ jobKey: "layout" });
    try {
      const st = await stat(sb.dirs.root);
      // The job may pass through its root but neither list nor rename what the runner made there.
      assert.equal(st.mode & 0o777, 0o711);
      assert.equal(st.uid, 0);
      const ws = await stat(sb.dirs.workspace);
      assert.ok(ws.uid >= UID_START && ws.uid < UID_START + 10);
      for (const d of [sb.dirs.workspace, sb.dirs.temp, sb.dirs.home, sb.dirs.toolCache]) {
        const s = await stat(d);
        assert.equal(s.uid, ws.uid, d);
        assert.equal(s.mode & 0o777, 0o700, d);
      }
      assert.equal(sb.baseEnv.USER, `job${ws.uid}`);
      assert.equal(sb.baseEnv.NR_TEST_DAEMON_ONLY, undefined);
      const r = await run(sb, "env | grep -c NR_TEST_DAEMON_ONLY || true; id -u; mv \"$HOME\" \"$HOME.x\" 2>/dev/null || echo no-rename");
      assert.deepEqual(r.out.trim().split("\n"), ["0", String(ws.uid), "no-rename"], r.out);
    } finally {
      delete process.env.NR_TEST_DAEMON_ONLY;
      await sb.dispose();
    }
  });

  it("removes the job's directories as the job uid: read-only trees go, symlinks out are not followed", async () => {
    const { backend } = await backendFor(fx, { isolation: "uid", cgroups: "none", uid_range: { start: UID_START + 20, count: 5 } });
    const sb = await backend.prepareJob({ jobKey: "rm" });
    const outside = join(fx.base, `outside-${randomBytes(3).toString("hex")}`);
    await mkdir(outside);
    await writeFile(join(outside, "keep"), "x");
    try {
      const r = await run(sb, [
        "mkdir -p ro/sub && touch ro/sub/f && chmod -R a-w ro",
        `ln -s ${outside} "$HOME/out" && ln -s ${outside}/keep "$RUNNER_TEMP/keep"`,
        "echo made",
      ].join("\n"));
      assert.match(r.out, /made/);
    } finally {
      await sb.dispose();
    }
    await assert.rejects(readdir(sb.dirs.root), /ENOENT/);
    assert.equal(await readFile(join(outside, "keep"), "utf8"), "x");
  });

  it("kills a step's whole process tree when its signal aborts", async () => {
    const { backend } = await backendFor(fx, { isolation: "uid", cgroups: "raw", uid_range: { start: UID_START + 30, count: 5 } });
    const sb = await backend.prepareJob({ jobKey: "abort" });
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 200);
      const r = await run(sb, "sleep 30 & sleep 31; echo not-reached", {}, ac.signal);
      assert.equal(r.signal, "SIGKILL");
      assert.doesNotMatch(r.out, /not-reached/);
      const pre = new AbortController();
      pre.abort();
      assert.deepEqual(await sb.spawn({ file: "true", args: [], cwd: sb.dirs.workspace, env: sb.baseEnv }, { onStdout() {}, onStderr() {} }, pre.signal), { code: null, signal: "SIGKILL" });
    } finally {
      await sb.dispose();
    }
    await assert.rejects(sb.spawn({ file: "true", args: [], cwd: "/", env: {} }, { onStdout() {}, onStderr() {} }, new AbortController().signal), /disposed/);
  });

  it("writes memory_max, cpu_quota and pids_max into the job's cgroups (raw)", async (t) => {
    const missing = await missingFeature("uid+bwrap", "raw");
    if (missing) return t.skip(missing);
    const { backend } = await backendFor(fx, {
      isolation: "uid+bwrap", cgroups: "raw", uid_range: { start: UID_START + 60, count: 5 },
      resources: { memory_max: 256 * 1024 * 1024, cpu_quota: 150, pids_max: 77 },
    });
    const sb = await backend.prepareJob({ jobKey: "limits" });
    try {
      // No cgroup namespace: the job can read its own cgroup paths and limits.
      const r = await run(sb, [
        "cg() { sed -n \"s/^[0-9]*:$1:\\(.*\\)/\\1/p\" /proc/self/cgroup; }",
        "cat /sys/fs/cgroup/memory$(cg memory)/memory.limit_in_bytes",
        "cat /sys/fs/cgroup/cpu$(cg cpu)/cpu.cfs_quota_us /sys/fs/cgroup/cpu$(cg cpu)/cpu.cfs_period_us",
        "cat /sys/fs/cgroup/pids$(cg pids)/pids.max",
      ].join("\n"));
      assert.deepEqual(r.out.trim().split("\n"), [String(256 * 1024 * 1024), "150000", "100000", "77"], r.out);
    } finally {
      await sb.dispose();
    }
  });

  it("kills what a crashed runner left behind (job cgroups, job uids, job roots) when it starts again", async (t) => {
    const missing = await missingFeature("uid", "raw");
    if (missing) return t.skip(missing);
    const host = { isolation: "uid" as const, cgroups: "raw" as const, uid_range: { start: UID_START + 80, count: 5 } };
    const first = await backendFor(fx, host);
    const sb = await first.backend.prepareJob({ jobKey: "crash" });
    const mark = `${6000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;
    try {
      await run(sb, `setsid sleep ${mark} > /dev/null 2>&1 & mkdir -p ro/x && chmod a-w ro; ln -s / "$HOME/root-link"; sleep 0.3; echo started`);
      assert.equal((await processesWith(mark)).length, 1);
      // Another directory in workdir_parent (not a job root of this runner) is left alone.
      const foreign = join(fx.workdir, `not-a-job-${randomBytes(3).toString("hex")}`);
      await mkdir(foreign);
      // No dispose(): the runner "crashed". A new start sweeps.
      const second = await backendFor(fx, host);
      assert.deepEqual(await processesWith(mark), []);
      assert.ok(second.logs.some((l) => /left by an earlier run/.test(l.msg)), second.logs.map((l) => l.msg).join("\n"));
      assert.ok(second.logs.some((l) => /removed 1 job directory left by an earlier run/.test(l.msg)), second.logs.map((l) => l.msg).join("\n"));
      await assert.rejects(readdir(sb.dirs.root), /ENOENT/);
      assert.ok(existsSync(foreign));
      assert.ok(existsSync("/etc/passwd"));
    } finally {
      await sb.dispose();
    }
  });

  it("shares the actions cache read-only under bwrap, never a directory that would uncover secrets", async (t) => {
    const missing = await missingFeature("uid+bwrap", "none");
    if (missing) return t.skip(missing);
    const actions = join(fx.workdir, "actions");
    await mkdir(join(actions, "acme"), { recursive: true, mode: 0o755 });
    await writeFile(join(actions, "acme", "index.js"), "console.log('action code')\n", { mode: 0o644 });
    const logs: string[] = [];
    const backend = await createHostBackend({
      host: hostConfig({ workdir_parent: fx.workdir, isolation: "uid+bwrap", cgroups: "none", uid_range: { start: UID_START + 90, count: 5 } }),
      stateDir: fx.stateDir,
      configFile: fx.configFile,
      log: (_l, m) => logs.push(m),
      readOnlyPaths: [actions, fx.base],
    });
    const sb = await backend.prepareJob({ jobKey: "share" });
    try {
      const r = await run(sb, `cat ${actions}/acme/index.js; echo x > ${actions}/acme/index.js || echo no-write; cat ${fx.stateDir}/.runner; ls ${fx.workdir}`);
      assert.match(r.out, /action code/);
      assert.match(r.out, /no-write/);
      assert.ok(!r.out.includes(fx.secrets.token), r.out);
      assert.ok(logs.some((m) => m.includes(`not sharing ${fx.base}`)), logs.join("\n"));
    } finally {
      await sb.dispose();
    }
  });

  it("keeps an exec -C workspace and deletes everything else", async () => {
    const ws = await mkdtemp("/var/tmp/nr-exec-ws-");
    await writeFile(join(ws, "keep.txt"), "mine");
    const { backend } = await backendFor(fx, { isolation: "bwrap", cgroups: "none" });
    const sb = await backend.prepareJob({ jobKey: "exec", workspaceDir: ws });
    try {
      assert.equal(sb.dirs.workspace, ws);
      const r = await run(sb, "cat keep.txt; echo new > made.txt; touch /etc/nr-should-fail 2>&1 || echo ro-root");
      assert.match(r.out, /mine/);
      assert.match(r.out, /ro-root/);
    } finally {
      await sb.dispose();
    }
    assert.deepEqual((await readdir(ws)).sort(), ["keep.txt", "made.txt"]);
    assert.equal(existsSync(sb.dirs.root), false);
    await rm(ws, { recursive: true, force: true });
  });

  it("reaches the nix daemon from inside uid+bwrap with job_gid nix-users", async (t) => {
    const nix = ["/usr/bin/nix", "/run/current-system/sw/bin/nix"].find((p) => existsSync(p));
    if (!nix || !existsSync("/nix/var/nix/daemon-socket/socket")) return t.skip("nix or a running nix-daemon is missing (scripts/setup-host.sh starts it)");
    let gid: number;
    try {
      gid = Number(execFileSync("getent", ["group", "nix-users"], { encoding: "utf8" }).split(":")[2]);
    } catch {
      return t.skip("no nix-users group");
    }
    const { backend } = await backendFor(fx, { isolation: "uid+bwrap", cgroups: "none", uid_range: { start: UID_START + 40, count: 5 }, job_gid: gid });
    const sb = await backend.prepareJob({ jobKey: "nix" });
    try {
      const r = await run(sb, `id -g; ${nix} --extra-experimental-features nix-command store ping --store daemon 2>&1`);
      assert.match(r.out, new RegExp(`^${gid}\\n`), r.out);
      assert.match(r.out, /Store URL: daemon/, r.out);
    } finally {
      await sb.dispose();
    }
  });
});

describe("backend selection", () => {
  it("fails closed: auto refuses to start when no isolation works, an explicit none starts", async () => {
    const parent = await mkdtemp("/var/tmp/nr-failclosed-");
    try {
      const opts = (isolation: "auto" | "none") => ({
        host: hostConfig({ workdir_parent: join(parent, "work"), isolation, cgroups: "none" as const }),
        stateDir: join(parent, "state"),
        bwrapPath: null,
        log: () => {},
      });
      await assert.rejects(
        createHostBackend(opts("auto")),
        (err: Error) => err instanceof HostSetupError && /no isolation backend works here/.test(err.message) && /host\.isolation: none/.test(err.message),
      );
      const logs: string[] = [];
      const b = await createHostBackend({ ...opts("none"), log: (_l: string, m: string) => logs.push(m) });
      assert.equal(b.name, "none/none");
      assert.ok(logs.some((m) => m.includes("isolation is NONE")));
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it("refuses a forced isolation that cannot work, naming the setting", async () => {
    const parent = await mkdtemp("/var/tmp/nr-sel-");
    try {
      await assert.rejects(
        createHostBackend({ host: hostConfig({ workdir_parent: parent, isolation: "uid", cgroups: "none" }), stateDir: parent, log: () => {} }),
        (err: Error) => err instanceof HostSetupError && /host\.isolation is "uid"/.test(err.message),
      );
      const logs: string[] = [];
      const b = await createHostBackend({ host: hostConfig({ workdir_parent: parent, isolation: "none", cgroups: "none", resources: { memory_max: 1 << 30, cpu_quota: 0, pids_max: 0 } }), stateDir: parent, log: (_l, m) => logs.push(m) });
      assert.equal(b.name, "none/none");
      assert.ok(logs.some((m) => m.includes("NOT enforced")), logs.join("\n"));
      assert.ok(logs.some((m) => m.includes("isolation is NONE")), logs.join("\n"));
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it("refuses per-job uids when workdir_parent is not reachable by them, and auto falls back", { skip: isRoot ? false : "needs root" }, async () => {
    const parent = await mkdtemp("/var/tmp/nr-sel-");
    await chmod(parent, 0o700);
    const work = join(parent, "work");
    try {
      await assert.rejects(
        createHostBackend({ host: hostConfig({ workdir_parent: work, isolation: "uid", cgroups: "none", uid_range: { start: UID_START + 70, count: 5 } }), stateDir: parent, log: () => {} }),
        /host\.workdir_parent .* is not reachable by job uids/,
      );
      const logs: string[] = [];
      const b = await createHostBackend({ host: hostConfig({ workdir_parent: work, cgroups: "none", uid_range: { start: UID_START + 70, count: 5 } }), stateDir: parent, log: (_l, m) => logs.push(m) });
      assert.ok(!b.name.startsWith("uid"), b.name);
      assert.ok(logs.some((m) => m.includes("not using per-job uids")), logs.join("\n"));
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it("picks uid+bwrap with cgroups when run as root with a uid range (auto)", { skip: isRoot ? false : "needs root" }, async () => {
    const parent = await mkdtemp("/var/tmp/nr-sel-");
    await chmod(parent, 0o755);
    try {
      const logs: string[] = [];
      const b = await createHostBackend({ host: hostConfig({ workdir_parent: parent, uid_range: { start: UID_START + 50, count: 5 } }), stateDir: parent, log: (_l, m) => logs.push(m) });
      assert.match(b.name, /^uid\+bwrap\/(raw|delegated|systemd)$/);
      assert.ok(logs.some((m) => m.startsWith("host isolation: uid+bwrap")), logs.join("\n"));
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});

describe("the cgroup gate passes the environment through untouched", () => {
  let fx: Fixture;
  before(async () => {
    fx = await makeFixture();
  });
  after(async () => {
    await fx?.cleanup();
  });

  it("keeps variables whose names are not shell identifiers and ignores BASH_ENV (bwrap --setenv)", async (t) => {
    const missing = await missingFeature("bwrap", "raw");
    if (missing) return t.skip(missing);
    const { backend } = await backendFor(fx, { isolation: "bwrap", cgroups: "raw" });
    const sb = await backend.prepareJob({ jobKey: "gate-env" });
    try {
      const bashEnv = join(sb.dirs.temp, "bash-env.sh");
      await writeFile(bashEnv, "echo SOURCED-BEFORE-THE-GATE\n");
      const r = await run(sb, "env | grep -E '^(INPUT_FETCH-DEPTH|INPUT_GITHUB-SERVER-URL)=' | sort", {
        "INPUT_FETCH-DEPTH": "1",
        "INPUT_GITHUB-SERVER-URL": "http://127.0.0.1:3000",
        BASH_ENV: bashEnv,
      });
      assert.equal(r.code, 0, r.out);
      // the job's own bash (the step) reads BASH_ENV once, as it would anywhere; the gate must not add a run
      assert.equal(r.out.split("SOURCED-BEFORE-THE-GATE").length - 1, 1, r.out);
      assert.match(r.out, /^INPUT_FETCH-DEPTH=1$/m);
      assert.match(r.out, /^INPUT_GITHUB-SERVER-URL=http:\/\/127\.0\.0\.1:3000$/m);
    } finally {
      await sb.dispose();
    }
  });
});
