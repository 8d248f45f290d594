// The deployment plan's exact actions2 instance, evaluated with nixpkgs' real
// module system, run the way systemd runs the unit it generates: ExecStartPre
// then ExecStart, as a non-root uid that is not in /etc/passwd (DynamicUser),
// with the file system read-only except the unit's state directories and a
// private /tmp (ProtectSystem=strict, PrivateTmp), the token in
// $CREDENTIALS_DIRECTORY (LoadCredential), and a notify socket that records
// the sender of each datagram (NotifyAccess=main accepts only the main pid).
// The packages' store paths are not on this machine: the evaluation maps
// them to the host's equivalents (/usr, node's prefix, a directory with the
// package's bin/native-runner); the config file, the registration script
// and the notify wrapper are the evaluated store files, run as they are.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { REPO_ROOT, moduleEvalUnavailable, mustEval, planInstance, systemWith, unitConfigFile } from "../nix/eval-module.js";
import { makeRepo } from "../helpers/git-http-server.js";
import { startForge, waitFor, type Forge } from "./helpers.js";

const UNIT = "native-runner-actions2";

function unavailable(): string | false {
  const noEval = moduleEvalUnavailable();
  if (noEval) return noEval;
  if (process.getuid?.() !== 0) return "needs root (a private mount namespace and setpriv to a dynamic uid)";
  for (const tool of ["unshare", "setpriv", "python3", "perl"]) {
    if (spawnSync(tool, ["--version"]).error) return `${tool} is not installed (scripts/setup-host.sh installs it)`;
  }
  if (!existsSync(join(REPO_ROOT, "dist/native-runner.js"))) return "dist/ is not built (node scripts/build.mjs)";
  return false;
}

/** Single-quoted for sh. */
function q(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd: "/", stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
  });
}

interface Datagram { pid: number; uid: number; text: string }

/** A notify socket like systemd's: prints each datagram with the sender's credentials as JSON lines. */
function startNotifySocket(path: string): { proc: ChildProcess; messages: Datagram[] } {
  const script = [
    "import json, os, socket, struct, sys",
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)",
    "s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777)",
    "print(json.dumps({'pid': 0, 'uid': 0, 'text': 'bound'}), flush=True)",
    "while True:",
    "    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))",
    "    pid = uid = -1",
    "    for level, kind, data in anc:",
    "        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:",
    "            pid, uid, _ = struct.unpack('3i', data[:12])",
    "    print(json.dumps({'pid': pid, 'uid': uid, 'text': msg.decode()}), flush=True)",
  ].join("\n");
  const proc = spawn("python3", ["-c", script, path], { stdio: ["ignore", "pipe", "inherit"] });
  const messages: Datagram[] = [];
  let buf = "";
  proc.stdout!.on("data", (c: Buffer) => {
    buf += c.toString();
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      messages.push(JSON.parse(buf.slice(0, i)) as Datagram);
      buf = buf.slice(i + 1);
    }
  });
  return { proc, messages };
}

test("the plan's exact instance starts as its unit runs it (DynamicUser, read-only system, state directories, notify from the main pid) and runs a job with hostPackages as PATH", { skip: unavailable(), timeout: 120_000 }, async () => {
  const tmp = await mkdtemp("/var/tmp/nr-module-unit-");
  await chmod(tmp, 0o755);
  const uid = 61184 + (process.pid % 4000);
  let forge: Forge | undefined;
  let notify: ReturnType<typeof startNotifySocket> | undefined;
  let daemon: ChildProcess | undefined;
  try {
    forge = await startForge(join(tmp, "git"));
    const pkgBin = join(tmp, "pkg/bin");
    await mkdir(pkgBin, { recursive: true });
    await symlink(join(REPO_ROOT, "bin/native-runner.js"), join(pkgBin, "native-runner"));
    const nodePrefix = dirname(dirname(process.execPath));
    const packagePaths: Record<string, string> = { "native-runner": join(tmp, "pkg"), nodejs: nodePrefix };
    for (const name of ["bash", "coreutils", "curl", "gawk", "gitMinimal", "gnused", "wget", "nix", "perl", "bubblewrap", "util-linux", "findutils", "gnugrep", "systemd"]) {
      packagePaths[name] = "/usr";
    }
    // The plan's instance; only the URL is the emulator's.
    const instance = { ...planInstance(), url: forge.url };
    const ev = mustEval(systemWith({ actions2: instance }), packagePaths);
    const svc = ev.services[UNIT]!;
    const sc = svc.serviceConfig;

    // StateDirectory=: systemd creates each below /var/lib, owned by the dynamic user, mode StateDirectoryMode.
    const stateDirs = sc.StateDirectory as string[];
    assert.ok(stateDirs.includes("gitea-runner/actions2/cache"), "the plan's cache dir is a state directory");
    const mounts: string[] = [];
    for (const d of stateDirs) {
      const host = join(tmp, "state", d);
      await mkdir(host, { recursive: true });
      await chown(host, uid, uid);
      await chmod(host, Number.parseInt(String(sc.StateDirectoryMode), 8));
      // systemd creates the parents of a nested state directory root-owned, mode 0755.
      mounts.push(`mkdir -p ${q(join("/var/lib", d))}`, `mount --bind ${q(host)} ${q(join("/var/lib", d))}`);
    }
    // LoadCredential=token:<tokenFile>: a copy readable by the unit's user only.
    const creds = join(tmp, "credentials");
    await mkdir(creds, { mode: 0o500 });
    await writeFile(join(creds, "token"), `${forge.emu.createRegistrationToken()}\n`, { mode: 0o400 });
    await chown(join(creds, "token"), uid, uid);
    await chown(creds, uid, uid);
    // NOTIFY_SOCKET, in a directory bound into the sandbox.
    const notifyDir = join(tmp, "notify");
    await mkdir(notifyDir, { mode: 0o755 });
    notify = startNotifySocket(join(notifyDir, "notify"));
    const notifyMessages = notify.messages;
    await waitFor("the notify socket", 10_000, () => (notifyMessages.length > 0 ? true : undefined));

    // A private mount namespace: everything read-only but the state directories; a private /tmp.
    const prologue = [
      "set -e",
      "mount --make-rprivate /",
      "mount -t tmpfs -o mode=0755 tmpfs /var/lib",
      ...mounts,
      "mount -t tmpfs -o mode=1777 tmpfs /tmp",
      "mkdir /tmp/credentials /tmp/notify",
      `mount --bind ${q(creds)} /tmp/credentials`,
      `mount --bind ${q(notifyDir)} /tmp/notify`,
      "mount -o remount,bind,ro /",
      "mount -o remount,bind,ro /var/lib",
      'cd "$WORKDIR"',
      `exec setpriv --reuid=${uid} --regid=${uid} --clear-groups --inh-caps=-all --no-new-privs -- "$@"`,
    ].join("\n");
    const sandbox = (cmd: string[]): string[] => ["-m", "sh", "-c", prologue, "sh", ...cmd];
    const env: NodeJS.ProcessEnv = {
      PATH: svc.environment.PATH,
      HOME: svc.environment.HOME,
      CREDENTIALS_DIRECTORY: "/tmp/credentials",
      STATE_DIRECTORY: stateDirs.map((d) => join("/var/lib", d)).join(":"),
      NOTIFY_SOCKET: "/tmp/notify/notify",
      WATCHDOG_USEC: "2000000",
    };

    // ExecStartPre: the registration script, from its store file.
    const pre = readFileSync((sc.ExecStartPre as string[])[0]!, "utf8");
    // (asynchronously: the emulator answers from this process)
    const reg = await run("unshare", sandbox(["/bin/sh", "-c", pre]), { ...env, WORKDIR: "/" });
    assert.equal(reg.code, 0, reg.output);
    assert.doesNotMatch(reg.output, /ignored|EACCES|readable by|"level":40/i, `registration logs no warnings:\n${reg.output}`);
    const runnerFile = join(tmp, "state/native-runner/actions2/.runner");
    assert.equal(statSync(runnerFile).uid, uid);
    const registration = JSON.parse(await readFile(runnerFile, "utf8")) as { uuid: string; labels: string[]; name: string };
    assert.equal(registration.name, "nix-cache02-native");
    assert.deepEqual(registration.labels, ["native:host"]);

    // ExecStart, with WorkingDirectory=.
    const start = String(sc.ExecStart).split(" ");
    assert.equal(unitConfigFile(svc).path, start.at(-1));
    let out = "";
    daemon = spawn("unshare", sandbox(start), { env: { ...env, WORKDIR: String(sc.WorkingDirectory) }, stdio: ["ignore", "pipe", "pipe"] });
    daemon.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    daemon.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => daemon!.once("exit", (code) => r(code)));

    const ready = await waitFor("READY=1", 60_000, () => notifyMessages.find((m) => m.text.startsWith("READY=1")) ?? (daemon!.exitCode !== null ? (() => { throw new Error(out); })() : undefined));
    // The sender is the process started (unshare, sh, setpriv, perl and node exec in turn): the unit's main pid.
    assert.equal(ready.pid, daemon.pid, "READY=1 comes from the main process");
    assert.equal(ready.uid, uid);
    assert.match(readFileSync(`/proc/${ready.pid}/cmdline`, "utf8").replaceAll("\0", " "), / daemon --config \/nix\/store\/\S+-native-runner-actions2\.yaml $/);
    await waitFor("WATCHDOG=1", 30_000, () => notifyMessages.find((m) => m.text === "WATCHDOG=1"));
    assert.ok(notifyMessages.slice(1).every((m) => m.pid === ready.pid), JSON.stringify(notifyMessages));

    const online = await waitFor("the runner to be online", 30_000, () =>
      forge!.emu.runners().find((r) => r.uuid === registration.uuid && r.status !== "offline"));
    assert.deepEqual(online.labels, ["native"]);
    // The plan's cache dir is in use and owned by the unit's user.
    assert.equal(statSync(join(tmp, "state/gitea-runner/actions2/cache")).uid, uid);
    assert.ok(readdirSync(join(tmp, "state/gitea-runner/actions2/cache")).length > 0, "the cache server keeps its data there");
    // Without systemd there is no delegated cgroup here (the unit's Delegate=yes gives one on NixOS).
    const warnings = out.split("\n").filter((l) => /"level":(40|50)/.test(l) && !l.includes('"msg":"no usable cgroups'));
    assert.deepEqual(warnings, [], `no other warnings or errors at start (a store path is world-readable by design):\n${out}`);
    assert.doesNotMatch(out, /EACCES|EROFS|read-only file system|readable by every local user/i, out);

    // A job of the plan's workflow shape runs, with exactly hostPackages on its PATH (host.path).
    const repo = await makeRepo(join(tmp, "git"), "torjus/nixos-exporter", { "README.md": "hello\n" });
    const queued = forge.emu.enqueue({
      workflow: "on: [push]\njobs:\n  build:\n    runs-on: native\n    steps:\n      - run: echo \"uid=$(id -u) PATH=$PATH\"\n",
      workflowFile: "build.yml",
      repo: "torjus/nixos-exporter",
      sha: repo.commit,
      ref: "refs/heads/main",
      context: forge.context,
    });
    const job = await waitFor("the job to finish", 60_000, () => (forge!.emu.job(queued.jobId)?.status === "done" ? forge!.emu.job(queued.jobId)! : undefined));
    const log = job.logRows.join("\n");
    assert.equal(job.result, "success", `${log}\n--- daemon ---\n${out}`);
    const hostPath = (JSON.parse(unitConfigFile(svc).text) as { host: { path: string } }).host.path;
    assert.equal(hostPath, `${[..."bash coreutils curl gawk gitMinimal gnused".split(" ").map(() => "/usr/bin"), `${nodePrefix}/bin`, "/usr/bin", "/usr/bin"].join(":")}`);
    assert.ok(job.logRows.includes(`uid=${uid} PATH=${hostPath}`), log);

    // systemctl stop: SIGTERM to the main process; a clean stop must not trigger Restart=on-failure.
    if (process.env.NR_TEST_DEBUG) console.error(out);
    process.kill(ready.pid, "SIGTERM");
    assert.equal(await exited, 0, out);
    assert.ok(notifyMessages.some((m) => m.text.startsWith("STOPPING=1") && m.pid === ready.pid), JSON.stringify(notifyMessages));
  } finally {
    if (daemon && daemon.exitCode === null) daemon.kill("SIGKILL");
    notify?.proc.kill();
    await forge?.close();
    await rm(tmp, { recursive: true, force: true });
  }
});
