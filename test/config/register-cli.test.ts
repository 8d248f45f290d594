// The registration verbs end to end: the real CLI in a child process, against
// the Forgejo emulator on 127.0.0.1.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startEmulator, type Emulator } from "../emulator/index.js";
import { REGISTRATION_WARNING, uuidFromSecret } from "../../src/config/registration.js";
import { VERSION } from "../../src/version.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const entry = join(root, "src/cli/entry.ts");
// Absolute, because the CLI runs in a scratch directory with no node_modules.
const tsx = import.meta.resolve("tsx");

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], opts: { cwd: string; input?: string }): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["--import", tsx, entry, ...args], {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH, HOME: opts.cwd, NODE_OPTIONS: "" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

describe("register and create-runner-file against the emulator", { timeout: 120_000 }, () => {
  let emu: Emulator;
  let dir: string;
  before(async () => {
    emu = await startEmulator();
    dir = await mkdtemp(join(tmpdir(), "nr-register-"));
  });
  after(async () => {
    await emu.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const workdir = async (name: string): Promise<string> => {
    const d = join(dir, name);
    await import("node:fs/promises").then((fs) => fs.mkdir(d, { recursive: true }));
    return d;
  };

  it("accepts the nixpkgs module's invocation (act_runner register --no-interactive ... --token-file ... --config)", async () => {
    const cwd = await workdir("nixpkgs");
    // What pkgs.formats.yaml writes for `settings = { runner.capacity = 4; cache = { enabled = true; dir = ...; }; }`.
    await writeFile(join(cwd, "config.yaml"), `cache:\n  dir: ${cwd}/cache\n  enabled: true\nrunner:\n  capacity: 4\n`);
    await writeFile(join(cwd, "token"), emu.createRegistrationToken() + "\n");
    const res = await cli(
      ["register", "--no-interactive", "--instance", emu.url, "--token-file", join(cwd, "token"), "--name", "nix-cache02-native",
        "--labels", "native:host,nix:host", "--config", join(cwd, "config.yaml")],
      { cwd },
    );
    assert.equal(res.code, 0, res.stderr);
    const text = await readFile(join(cwd, ".runner"), "utf8");
    const reg = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(reg), ["WARNING", "id", "uuid", "name", "token", "address", "labels"]);
    assert.equal(reg.WARNING, REGISTRATION_WARNING);
    assert.equal(reg.name, "nix-cache02-native");
    assert.equal(reg.address, emu.url);
    assert.deepEqual(reg.labels, ["native:host", "nix:host"]);
    assert.match(reg.token as string, /^[0-9a-f]{40}$/);
    assert.ok(text.endsWith("}\n") && text.startsWith('{\n  "WARNING": '));
    const seen = emu.runners().find((r) => r.uuid === reg.uuid);
    assert.ok(seen, "the emulator knows the runner");
    assert.equal(seen.id, reg.id);
    assert.equal(seen.name, "nix-cache02-native");
    assert.deepEqual(seen.labels, ["native", "nix"], "only label names reach the server");
    assert.equal(seen.version, VERSION);
    assert.equal(seen.ephemeral, false);
    const registers = emu.requests().filter((r) => /Register$/.test(r.rpc));
    assert.equal(registers[registers.length - 1]!.contentType, "application/proto");
  });

  it("prefers runner.labels from the config over --labels, with a warning; --ephemeral is passed on", async () => {
    const cwd = await workdir("cfg-labels");
    await writeFile(join(cwd, "c.yaml"), "runner:\n  file: state/reg.json\n  labels: [nix:host]\n");
    const res = await cli(
      ["-c", "c.yaml", "register", "--no-interactive", "--instance", emu.url, "--token", emu.createRegistrationToken(),
        "--name", "r2", "--labels", "other:host", "--ephemeral"],
      { cwd },
    );
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /Labels from the command line are ignored/);
    const reg = JSON.parse(await readFile(join(cwd, "state/reg.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual(reg.labels, ["nix:host"]);
    assert.equal(reg.ephemeral, true);
    const seen = emu.runners().find((r) => r.uuid === reg.uuid)!;
    assert.deepEqual(seen.labels, ["nix"]);
    assert.equal(seen.ephemeral, true);
  });

  it("the older nixpkgs invocation: EnvironmentFile= with TOKEN=..., then register ... --token \"$TOKEN\" --labels with the same labels as the config", async () => {
    const cwd = await workdir("nixpkgs-envfile");
    await writeFile(join(cwd, "config.yaml"), "runner:\n  capacity: 4\n  labels:\n  - native:host\n");
    await writeFile(join(cwd, "token.env"), `TOKEN=${emu.createRegistrationToken()}\n`);
    // systemd's EnvironmentFile=: KEY=VALUE lines become the unit's environment.
    const unitEnv = Object.fromEntries(
      (await readFile(join(cwd, "token.env"), "utf8")).split("\n").filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    const script = `exec "$NODE" --import "$TSX" "$ENTRY" register --no-interactive --instance "$URL" --token "$TOKEN" --name nix-cache02-native --labels native:host --config config.yaml`;
    const res = await new Promise<RunResult>((resolvePromise, reject) => {
      const child = spawn("sh", ["-c", script], {
        cwd,
        env: { PATH: process.env.PATH, HOME: cwd, NODE: process.execPath, TSX: tsx, ENTRY: entry, URL: emu.url, ...unitEnv },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
    });
    assert.equal(res.code, 0, res.stderr);
    assert.doesNotMatch(res.stderr, /ignored/, "the same labels twice are not worth a warning");
    const reg = JSON.parse(await readFile(join(cwd, ".runner"), "utf8")) as { uuid: string; labels: string[] };
    assert.deepEqual(reg.labels, ["native:host"]);
    assert.equal(emu.runners().find((r) => r.uuid === reg.uuid)!.name, "nix-cache02-native");
  });

  it("--ping-timeout 0 keeps trying; by default it says what it waits for and for how long", async () => {
    const cwd = await workdir("ping-forever");
    await writeFile(join(cwd, "token"), `${emu.createRegistrationToken()}\n`);
    emu.faults.add({ rpc: "Ping", kind: "http5xx", count: 3 });
    try {
      const res = await cli(["register", "--no-interactive", "--instance", emu.url, "--token-file", "token", "--name", "patient", "--ping-timeout", "0"], { cwd });
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stderr, /Waiting for the Forgejo instance to answer a ping \(no time limit: --ping-timeout 0\)/);
      assert.equal(res.stderr.match(/Cannot ping the Forgejo instance server; retrying in 1s"/g)?.length, 3, res.stderr);
      assert.match(res.stderr, /The Forgejo instance answered/);
    } finally {
      emu.faults.clear();
    }
    const bounded = await cli(["register", "--no-interactive", "--instance", "http://127.0.0.1:9/", "--token", "t", "--ping-timeout", "2s"], { cwd: await workdir("ping-bounded") });
    assert.equal(bounded.code, 1);
    assert.match(bounded.stderr, /Waiting for the Forgejo instance to answer a ping \(up to 2s; --ping-timeout\)/);
    assert.match(bounded.stderr, /retrying in 1s; giving up in /);
    assert.match(bounded.stderr, /gave up after 2s; --ping-timeout 0 keeps trying/);
  });

  it("uses the host label and the host name by default (over the JSON codec when configured)", async () => {
    const cwd = await workdir("defaults");
    await writeFile(join(cwd, "c.yaml"), "runner:\n  protocol: json\n");
    const res = await cli(
      ["register", "--no-interactive", "--instance", emu.url, "--token", emu.createRegistrationToken(), "--config", "c.yaml"], { cwd },
    );
    assert.equal(res.code, 0, res.stderr);
    const reg = JSON.parse(await readFile(join(cwd, ".runner"), "utf8")) as { labels: string[]; name: string };
    assert.deepEqual(reg.labels, ["native:host"]);
    assert.equal(reg.name, (await import("node:os")).hostname());
    const registers = emu.requests().filter((r) => /Register$/.test(r.rpc));
    assert.match(registers[registers.length - 1]!.contentType, /^application\/json/);
  });

  it("retries the ping every second until the instance answers; reads a TOKEN= token file", async () => {
    const cwd = await workdir("retry");
    await writeFile(join(cwd, "env"), `# older nixpkgs EnvironmentFile\nTOKEN=${emu.createRegistrationToken()}\n`);
    emu.faults.add({ rpc: "Ping", kind: "http5xx", count: 2 });
    try {
      const res = await cli(["register", "--no-interactive", "--instance", emu.url, "--token-file", "env", "--name", "retry"], { cwd });
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stderr.match(/Cannot ping the Forgejo instance server; retrying in 1s/g)?.length, 2, res.stderr);
      assert.match(res.stderr, /holds a TOKEN= line/);
    } finally {
      emu.faults.clear();
    }
    const reg = JSON.parse(await readFile(join(cwd, ".runner"), "utf8")) as { uuid: string };
    assert.equal(emu.runners().find((r) => r.uuid === reg.uuid)!.name, "retry");
  });

  it("registers interactively from answers on stdin", async () => {
    const cwd = await workdir("interactive");
    const token = emu.createRegistrationToken();
    const res = await cli(["register"], { cwd, input: `\n${emu.url}\n${token}\nasked-name\nbad:host:x\nnative:host, box:lxc\nnative:host, box:host\n` });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /Enter the Forgejo instance URL/);
    assert.match(res.stderr, /Invalid labels \(schema: host does not have arguments\)/);
    assert.match(res.stderr, /Invalid labels \(label \\"box:lxc\\" runs jobs in an LXC container/);
    const reg = JSON.parse(await readFile(join(cwd, ".runner"), "utf8")) as { labels: string[]; name: string; uuid: string };
    assert.equal(reg.name, "asked-name");
    assert.deepEqual(reg.labels, ["native:host", "box:host"]);
    assert.deepEqual(emu.runners().find((r) => r.uuid === reg.uuid)!.labels, ["native", "box"]);
    // With runner.labels in the config, the labels question is not asked.
    const withCfg = await workdir("interactive-cfg");
    await writeFile(join(withCfg, "c.yaml"), "runner:\n  labels: [nix:host]\n");
    const cfgRun = await cli(["register", "-c", "c.yaml"], { cwd: withCfg, input: `${emu.url}\n${token}\n\n` });
    assert.equal(cfgRun.code, 0, cfgRun.stderr);
    assert.doesNotMatch(cfgRun.stderr, /Enter the runner labels/);
    const cfgReg = JSON.parse(await readFile(join(withCfg, ".runner"), "utf8")) as { labels: string[]; name: string };
    assert.deepEqual(cfgReg.labels, ["nix:host"]);
    assert.equal(cfgReg.name, (await import("node:os")).hostname(), "an empty name answer means the host name");
    // Registered already: answering anything but y keeps the file.
    const before = await readFile(join(cwd, ".runner"), "utf8");
    const again = await cli(["register"], { cwd, input: "n\n" });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /overwrite local config\? \[y\/N\]/);
    assert.equal(await readFile(join(cwd, ".runner"), "utf8"), before);
  });

  it("fails clearly on a bad token, bad labels, a bad URL or config, or an unreachable instance, writing nothing", async () => {
    const cwd = await workdir("failures");
    await writeFile(
      join(cwd, "v13.yaml"),
      "server:\n  connections:\n    main:\n      url: http://127.0.0.1:1/\n      uuid: 8b0f3c9e-0b64-4a39-9f16-3cfd3a4e2a10\n      token: t\n",
    );
    const reg = ["register", "--no-interactive"];
    const cases: [string[], RegExp][] = [
      [[...reg, "--instance", emu.url, "--token", "nope", "--name", "x"], /Failed to register runner: .*runner registration token not found/],
      [[...reg, "--instance", emu.url, "--token", "t", "--labels", "a:k8s"], /invalid labels: unsupported schema: k8s/],
      [[...reg, "--instance", "http://127.0.0.1:9/", "--token", "t", "--ping-timeout", "1s"], /Cannot ping the Forgejo instance server at http:\/\/127\.0\.0\.1:9\//],
      [[...reg, "--instance", "forgejo.example", "--token", "t"], /instance address "forgejo\.example" is not an http\(s\) URL/],
      [[...reg, "--instance", emu.url, "--token", "t", "-c", "missing.yaml"], /missing\.yaml: cannot open config file: ENOENT/],
      [[...reg, "--instance", emu.url, "--token", "t", "-c", "v13.yaml"], /the config declares server\.connections \(main\); a registration file .* cannot be used together with them/],
      [[...reg, "--instance", emu.url, "--token", "t", "--token-file", "v13.yaml"], /--token and --token-file cannot be used together/],
    ];
    // Independent processes: run them side by side.
    const results = await Promise.all(cases.map(([args]) => cli(args, { cwd })));
    results.forEach((res, i) => {
      assert.equal(res.code, 1, `${cases[i]![0].join(" ")}: ${res.stderr}`);
      assert.match(res.stderr, cases[i]![1]);
    });
    await assert.rejects(readFile(join(cwd, ".runner")), /ENOENT/);
  });

  it("create-runner-file writes the pre-registered runner's file and --connect declares it", async () => {
    const cwd = await workdir("create");
    const secret = "0123456789abcdef0123456789abcdef01234567";
    emu.preRegisterRunner(secret, "pre");
    await writeFile(join(cwd, "c.yaml"), "runner:\n  labels: [native:host]\n");
    const res = await cli(["create-runner-file", "--instance", emu.url, "--secret", secret, "--name", "pre", "--connect", "-c", "c.yaml"], { cwd });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /connection successful/);
    const text = await readFile(join(cwd, ".runner"), "utf8");
    const reg = JSON.parse(text) as Record<string, unknown>;
    assert.equal(reg.uuid, uuidFromSecret(secret));
    assert.equal(reg.uuid, "30313233-3435-3637-3839-616263646566");
    assert.equal(reg.token, secret);
    assert.equal(reg.name, "pre");
    assert.equal(reg.id, 0);
    const seen = emu.runners().find((r) => r.uuid === reg.uuid)!;
    assert.deepEqual(seen.labels, ["native"], "Declare replaced the labels with the configured names");
    assert.equal(seen.version, VERSION);

    const unknownDir = await workdir("create-unknown");
    const [badSecret, unknown, missing] = await Promise.all([
      cli(["create-runner-file", "--instance", emu.url, "--secret", "xyz"], { cwd }),
      cli(["create-runner-file", "--instance", emu.url, "--secret", "f".repeat(40), "--connect"], { cwd: unknownDir }),
      cli(["create-runner-file", "--secret", secret], { cwd }),
    ]);
    assert.equal(badSecret.code, 1);
    assert.match(badSecret.stderr, /the secret must be exactly 40 characters long, not 3/);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Declare failed/);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /required option '--instance <url>' not specified/);
    assert.equal(await readFile(join(cwd, ".runner"), "utf8"), text, "failed runs left the file alone");
  });
});
