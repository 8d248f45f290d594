import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/config/errors.js";
import { defaultConfig } from "../../src/config/defaults.js";
import { loadConfig, parseConfig, tuneForAddress } from "../../src/config/load-config.js";

const env = { HOME: "/home/ci" };
const cwd = "/srv/runner";
const load = (yaml: string, extraEnv: NodeJS.ProcessEnv = {}) => parseConfig(yaml, "config.yaml", { env: { ...env, ...extraEnv }, cwd });

function problems(yaml: string, extraEnv: NodeJS.ProcessEnv = {}): string[] {
  try {
    load(yaml, extraEnv);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail("expected a ConfigError");
}

test("no config file: forgejo-runner's defaults", () => {
  const cfg = parseConfig(undefined, undefined, { env, cwd });
  assert.equal(cfg.config_file, undefined);
  assert.equal(cfg.log.level, "info");
  assert.equal(cfg.log.job_level, "info");
  assert.equal(cfg.runner.file, "/srv/runner/.runner");
  assert.equal(cfg.state_dir, "/srv/runner");
  assert.equal(cfg.runner.capacity, 1);
  assert.equal(cfg.runner.timeout, 3 * 3600_000);
  assert.equal(cfg.runner.shutdown_timeout, 0);
  assert.equal(cfg.runner.fetch_timeout, 5000);
  assert.equal(cfg.runner.fetch_interval, 2000);
  assert.equal(cfg.runner.report_interval, 1000);
  assert.deepEqual(cfg.runner.report_retry, { max_retries: 10, initial_delay: 100, max_delay: 0 });
  assert.deepEqual(cfg.runner.labels, []);
  assert.equal(cfg.cache.enabled, true);
  assert.equal(cfg.cache.dir, "/home/ci/.cache/actcache");
  assert.equal(cfg.cache.port, 0);
  assert.equal(cfg.container.docker_host, "-");
  assert.equal(cfg.container.workdir_parent, "workspace");
  assert.equal(cfg.container.network, "");
  assert.equal(cfg.host.workdir_parent, "/home/ci/.cache/act");
  assert.equal(cfg.runner.fetch_interval_max, 2000, "no idle backoff by default");
  assert.deepEqual(cfg.metrics, { enabled: false, addr: "127.0.0.1:9101" });
  assert.equal(cfg.cache.max_size, 10 * 1024 ** 3);
  assert.equal(cfg.actions.cache_dir, "/home/ci/.cache/act/actions");
  assert.deepEqual(cfg.server.connections, []);
  assert.deepEqual(cfg.warnings, []);
  assert.deepEqual(cfg, defaultConfig(env, cwd));
  // An empty file, or one with empty sections, changes nothing.
  for (const text of ["", "# only a comment\n", "log:\nrunner:\ncache:\ncontainer:\nhost:\n"]) {
    const c = load(text);
    assert.deepEqual({ ...c, config_file: undefined }, { ...defaultConfig(env, cwd), config_file: undefined }, JSON.stringify(text));
    assert.equal(c.config_file, "/srv/runner/config.yaml");
  }
});

test("forgejo-runner quirks", () => {
  assert.equal(load("runner:\n  capacity: 0\n").runner.capacity, 1);
  const neg = load("runner:\n  capacity: -3\n");
  assert.equal(neg.runner.capacity, 1);
  assert.match(neg.warnings.join("\n"), /runner\.capacity: -3 is negative/);
  assert.equal(load("runner:\n  capacity: 4\n").runner.capacity, 4);
  assert.equal(load("cache:\n  enabled:\n").cache.enabled, true);
  assert.equal(load("cache:\n  enabled: false\n").cache.enabled, false);
  assert.equal(load('container:\n  docker_host: ""\n').container.docker_host, "-");
  assert.equal(load("container:\n  docker_host: automount\n").container.docker_host, "automount");
  const bridge = load("container:\n  network_mode: bridge\n");
  assert.equal(bridge.container.network, "");
  assert.match(bridge.warnings.join("\n"), /network_mode: deprecated/);
  assert.equal(load("container:\n  network_mode: host\n").container.network, "host");
  assert.equal(load("container:\n  network: mynet\n  network_mode: host\n").container.network, "mynet");
  assert.equal(load("container:\n  workdir_parent:\n").container.workdir_parent, "workspace");
  assert.equal(load("runner:\n  timeout: 0\n").runner.timeout, 3 * 3600_000);
  assert.equal(load("runner:\n  fetch_interval: 0s\n").runner.fetch_interval, 2000);
  assert.equal(load("runner:\n  fetch_timeout: -1s\n").runner.fetch_timeout, 5000);
  assert.equal(load("runner:\n  report_retry:\n    max_retries: 0\n").runner.report_retry.max_retries, 10);
  assert.equal(load("runner:\n  report_retry:\n    max_retries: 3\n    initial_delay: 1s\n    max_delay: 10s\n").runner.report_retry.max_delay, 10_000);
  assert.equal(load("runner:\n  shutdown_timeout: 3h\n").runner.shutdown_timeout, 3 * 3600_000);
  assert.equal(load('runner:\n  file: ""\n').runner.file, "/srv/runner/.runner");
  // Relative paths are relative to the working directory, like forgejo-runner.
  const rel = load("runner:\n  file: state/.runner\nhost:\n  workdir_parent: work\ncache:\n  dir: c\n");
  assert.equal(rel.runner.file, "/srv/runner/state/.runner");
  assert.equal(rel.state_dir, "/srv/runner/state");
  assert.equal(rel.host.workdir_parent, "/srv/runner/work");
  assert.equal(rel.actions.cache_dir, "/srv/runner/work/actions");
  assert.equal(rel.cache.dir, "/srv/runner/c");
  assert.equal(load("cache:\n  dir: $HOME/cache\n").cache.dir, "/home/ci/cache");
  // fetch_interval_max never falls below fetch_interval.
  assert.equal(load("runner:\n  fetch_interval: 45s\n").runner.fetch_interval_max, 45_000);
});

test("durations take Go syntax or seconds; sizes take units", () => {
  const cfg = load(
    "runner:\n  timeout: 1h30m\n  fetch_interval: 500ms\n  report_interval: 2\n  shutdown_timeout: 0.5\n" +
      "cache:\n  max_size: 512M\n  mac_max_age: 90s\nhost:\n  resources:\n    memory_max: 4GiB\n    cpu_quota: 150%\n    pids_max: 512\n",
  );
  assert.equal(cfg.runner.timeout, 5_400_000);
  assert.equal(cfg.runner.fetch_interval, 500);
  assert.equal(cfg.runner.report_interval, 2000);
  assert.equal(cfg.runner.shutdown_timeout, 500);
  assert.equal(cfg.cache.max_size, 512 * 1024 ** 2);
  assert.equal(cfg.cache.mac_max_age, 90_000);
  assert.deepEqual(cfg.host.resources, { memory_max: 4 * 1024 ** 3, cpu_quota: 150, pids_max: 512 });
  assert.equal(load("host:\n  resources:\n    cpu_quota: 50\n").host.resources.cpu_quota, 50);
  assert.equal(load("cache:\n  max_size: 1048576\n").cache.max_size, 1048576);
  assert.equal(load("cache:\n  mac_max_age: 0\n").cache.mac_max_age, 0);
  assert.match(problems("cache:\n  mac_max_age: -1s\n")[0]!, /cache\.mac_max_age: "-1s" is negative/);
});

test("bad values fail with the key, the position, the value and what is expected", () => {
  const p = problems("runner:\n  capacity: lots\n");
  assert.deepEqual(p, ['config.yaml:2:13: runner.capacity: "lots" is not a number (expected an integer \u2265 1)']);
  const many = problems(
    "log:\n  level: loud\nrunner:\n  timeout: forever\n  insecure: maybe\n  labels: [good:host, 'bad:host:arg']\n" +
      "  envs: [a]\n  trusted_repos: [justaname]\ncache:\n  port: 70000\n  max_size: huge\n" +
      "host:\n  isolation: docker\n  hidden_paths: [relative/path]\n  uid_range:\n    start: 100\n    count: 5\nmetrics:\n  addr: nowhere\n",
  );
  const expectations: RegExp[] = [
    /^config\.yaml:2:10: log\.level: "loud" is not allowed \(expected one of trace, debug, info, warn, error, fatal\)$/,
    /^config\.yaml:4:12: runner\.timeout: "forever" is not a duration \(expected a duration such as "30s", "1h30m" or "500ms", or a number of seconds\)$/,
    /^config\.yaml:5:13: runner\.insecure: "maybe" is not a boolean \(expected true or false\)$/,
    /^config\.yaml:6:23: runner\.labels\[1\]: "bad:host:arg" is not a valid label: schema: host does not have arguments/,
    /^config\.yaml:7:9: runner\.envs: \["a"\] is not a mapping/,
    /runner\.trusted_repos\[0\]: "justaname" is not a repository pattern \(expected owner\/repo or owner\/\*\)/,
    /cache\.port: 70000 is out of range \(expected an integer from 0 to 65535\)/,
    /cache\.max_size: "huge" is not a size/,
    /host\.isolation: "docker" is not allowed \(expected one of auto, bwrap, uid, uid\+bwrap, none\)/,
    /host\.hidden_paths\[0\]: "relative\/path" is not an absolute path/,
    /host\.uid_range\.start: 100 is a system uid \(expected a uid \u2265 1000/,
    /metrics\.addr: "nowhere" is not an address \(expected host:port/,
  ];
  assert.equal(many.length, expectations.length, many.join("\n"));
  expectations.forEach((re, i) => assert.match(many[i]!, re));
  // The thrown message carries all of them.
  assert.throws(() => load("runner:\n  capacity: lots\n"), /invalid configuration in config\.yaml: .*runner\.capacity: "lots"/);
  assert.match(problems("runner: [1, 2]\n")[0]!, /runner: \[1,2\] is not a mapping/);
  assert.match(problems("- a\n- b\n")[0]!, /must be a mapping of sections/);
  assert.match(problems("runner:\n  capacity: 1\n  capacity: 2\n")[0]!, /YAML syntax error/);
  assert.match(problems("runner:\n  capacity: [\n")[0]!, /YAML syntax error/);
});

test("unknown keys are warned about, not fatal", () => {
  const cfg = load(
    "runner:\n  capacity: 2\n  capacty: 3\n  log_report_interval: 5s\nfoo: 1\nhost:\n  workdir_parnet: /x\n" +
      "container:\n  bind_workdir: true\nserver:\n  connections:\n    a:\n      url: http://127.0.0.1:1/\n" +
      "      uuid: 8b0f3c9e-0b64-4a39-9f16-3cfd3a4e2a10\n      token: t\n      tokn: x\n",
  );
  assert.equal(cfg.runner.capacity, 2);
  const w = cfg.warnings.join("\n");
  assert.match(w, /config\.yaml:3:3: runner\.capacty: unknown key, ignored/);
  assert.match(w, /config\.yaml:5:1: foo: unknown key, ignored/);
  assert.match(w, /host\.workdir_parnet: unknown key, ignored/);
  assert.match(w, /server\.connections\.a\.tokn: unknown key, ignored/);
  assert.match(w, /runner\.log_report_interval: a Gitea act_runner key that native-runner does not use/);
  assert.match(w, /container\.bind_workdir: a Gitea act_runner key/);
  assert.equal(cfg.warnings.length, 6, w);
});

test("env_file is merged into envs; a missing one is ignored", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nr-cfg-"));
  try {
    await writeFile(
      join(dir, "jobs.env"),
      "# comment\nexport A=from-file\nB='single $A'\nC=\"double ${A}\\n\"\nD: colon # trailing comment\nE=plain $A\n",
    );
    const cfg = parseConfig("runner:\n  envs:\n    A: from-config\n    Z: 1.10\n  env_file: jobs.env\n", "c.yaml", { env, cwd: dir });
    assert.deepEqual(cfg.runner.envs, {
      A: "from-file", Z: "1.10", B: "single $A", C: "double from-file\n", D: "colon", E: "plain from-file",
    });
    assert.equal(cfg.runner.env_file, join(dir, "jobs.env"));
    const missing = parseConfig("runner:\n  env_file: nope.env\n", "c.yaml", { env, cwd: dir });
    assert.deepEqual(missing.runner.envs, {});
    assert.deepEqual(missing.warnings, [], "a missing env_file is ignored, as in forgejo-runner");
    await mkdir(join(dir, "adir"));
    assert.throws(() => parseConfig("runner:\n  env_file: adir\n", "c.yaml", { env, cwd: dir }), /runner\.env_file: .*adir" is a directory/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("legacy GITEA_* variables count only without a config file", () => {
  const legacy = {
    ...env, GITEA_DEBUG: "true", GITEA_RUNNER_CAPACITY: "3", GITEA_RUNNER_FILE: "reg.json", GITEA_RUNNER_ENVIRON: "A:1,B:x:y,bad",
  };
  const noFile = parseConfig(undefined, undefined, { env: legacy, cwd });
  assert.equal(noFile.log.level, "debug");
  assert.equal(noFile.runner.capacity, 3);
  assert.equal(noFile.runner.file, "/srv/runner/reg.json");
  assert.deepEqual(noFile.runner.envs, { A: "1", B: "x:y" });
  assert.match(noFile.warnings.join("\n"), /GITEA_RUNNER_CAPACITY is deprecated/);
  const withFile = parseConfig("runner:\n  capacity: 2\n", "c.yaml", { env: legacy, cwd });
  assert.equal(withFile.log.level, "info");
  assert.equal(withFile.runner.capacity, 2);
  assert.equal(withFile.runner.file, "/srv/runner/.runner");
  assert.match(withFile.warnings.join("\n"), /env GITEA_RUNNER_CAPACITY has been ignored because a config file is used/);
  assert.equal(parseConfig(undefined, undefined, { env: { ...env, GITEA_TRACE: "1" }, cwd }).log.level, "trace");
});

test("server.connections: token or token_url (with $CREDENTIALS_DIRECTORY), defaults from runner", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nr-creds-"));
  try {
    await writeFile(join(dir, "fj-token"), "0123456789abcdef0123456789abcdef01234567\n");
    await writeFile(join(dir, "cache-secret"), "s3cret");
    const yaml =
      "runner:\n  labels: [native:host]\n  fetch_interval: 4s\n  trusted_repos: [me/*]\n" +
      "cache:\n  secret_url: file:$CREDENTIALS_DIRECTORY/cache-secret\n" +
      "server:\n  connections:\n" +
      "    forgejo:\n      url: https://forgejo.example/\n      uuid: 8B0F3C9E-0B64-4A39-9F16-3CFD3A4E2A10\n" +
      "      token_url: file:$CREDENTIALS_DIRECTORY/fj-token\n" +
      "    berg:\n      url: https://codeberg.org\n      uuid: 00000000-0000-0000-0000-000000000001\n      token: abc\n" +
      "      labels: [nix:host]\n      fetch_interval: 1s\n      trusted_events: [push]\n      cache_mode: read\n";
    const cfg = load(yaml, { CREDENTIALS_DIRECTORY: dir });
    assert.equal(cfg.cache.secret, "s3cret");
    assert.equal(cfg.cache.secret_url, "file:$CREDENTIALS_DIRECTORY/cache-secret");
    assert.deepEqual(cfg.server.connections, [
      {
        name: "forgejo", url: "https://forgejo.example/", uuid: "8b0f3c9e-0b64-4a39-9f16-3cfd3a4e2a10",
        token: "0123456789abcdef0123456789abcdef01234567", labels: ["native:host"], fetch_interval: 4000,
        trusted_repos: ["me/*"], trusted_events: [], cache_mode: "readwrite",
      },
      {
        name: "berg", url: "https://codeberg.org", uuid: "00000000-0000-0000-0000-000000000001", token: "abc",
        labels: ["nix:host"], fetch_interval: 30_000, trusted_repos: ["me/*"], trusted_events: ["push"], cache_mode: "read",
      },
    ]);
    // file:/absolute works without the placeholder.
    const abs = load(
      `server:\n  connections:\n    a:\n      url: http://127.0.0.1:3000\n      uuid: 00000000-0000-0000-0000-000000000001\n      token_url: file://${join(dir, "fj-token")}\n`,
    );
    assert.equal(abs.server.connections[0]!.token, "0123456789abcdef0123456789abcdef01234567");
    assert.equal(abs.server.connections[0]!.fetch_interval, 2000);

    const bad = problems(
      "cache:\n  secret: x\n  secret_url: file:/x\nserver:\n  connections:\n" +
        "    a:\n      uuid: 00000000-0000-0000-0000-000000000001\n      token: t\n" +
        "    b:\n      url: ftp://h/\n      uuid: nope\n      token: t\n      token_url: file:/x\n" +
        "    c:\n      url: http://h/\n      uuid: 00000000-0000-0000-0000-000000000001\n" +
        "    d:\n      url: http://h/\n      uuid: 00000000-0000-0000-0000-000000000001\n      token_url: file:$CREDENTIALS_DIRECTORY/missing\n" +
        "    e:\n      url: http://h/\n      uuid: 00000000-0000-0000-0000-000000000001\n      token_url: https://vault/x\n",
      { CREDENTIALS_DIRECTORY: dir },
    );
    const all = bad.join("\n");
    assert.match(all, /cache\.secret_url: "file:\/x" is set together with cache\.secret/);
    assert.match(all, /server\.connections\.a\.url: "" is empty/);
    assert.match(all, /server\.connections\.b\.url: "ftp:\/\/h\/" is not an http\(s\) URL \(expected a URL with scheme http or https\)/);
    assert.match(all, /server\.connections\.b\.uuid: "nope" is not a uuid/);
    assert.match(all, /server\.connections\.b\.token_url: "file:\/x" is set together with token/);
    assert.match(all, /server\.connections\.c\.token: "" is empty and token_url is not set/);
    assert.match(all, /server\.connections\.d\.token_url: .*cannot be used: cannot read secret .*ENOENT/);
    assert.match(all, /server\.connections\.e\.token_url: .*only file: URLs are supported/);
    assert.match(problems("server:\n  connections:\n    a:\n      url: http://h/\n      uuid: 00000000-0000-0000-0000-000000000001\n      token_url: file:$CREDENTIALS_DIRECTORY/x\n")[0]!, /CREDENTIALS_DIRECTORY but that variable is not set/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("tuneForAddress raises the fetch interval for codeberg.org hosts only", () => {
  const cfg = load("runner:\n  fetch_interval: 5s\n");
  assert.equal(tuneForAddress(cfg, "https://forgejo.example").runner.fetch_interval, 5000);
  assert.equal(tuneForAddress(cfg, "https://codeberg.org").runner.fetch_interval, 30_000);
  assert.equal(cfg.runner.fetch_interval_max, 30_000, "never below the raised interval");
  const sub = load("runner:\n  fetch_interval: 5s\n");
  assert.equal(tuneForAddress(sub, "https://next.codeberg.org/").runner.fetch_interval, 30_000);
  const slow = load("runner:\n  fetch_interval: 1m\n");
  assert.equal(tuneForAddress(slow, "https://codeberg.org").runner.fetch_interval, 60_000);
});

test("native-runner keys", () => {
  const cfg = load(
    "log:\n  level: warning\n  format: json\nrunner:\n  trusted_repos: [torjus/nixos-servers, torjus/*]\n  trusted_events: [push]\n  protocol: json\n" +
      "host:\n  isolation: bwrap\n  cgroups: raw\n  path: /usr/bin:/bin\n  node: /usr/bin/node\n  uid_range:\n    start: 3000000\n    count: 16\n" +
      "  job_gid: root\n  hidden_paths: [/run/secrets]\nactions:\n  cache_offline: yes\n  max_cache_size: 1G\n" +
      "nix:\n  gcroots:\n    ttl: 168h\n    keep_last: 2\n    default_branch_only: false\n  job_config: 'sandbox = true'\n  warn_trusted_user: false\n" +
      "metrics:\n  enabled: true\n  addr: '[::1]:9200'\n",
  );
  assert.equal(cfg.log.level, "warn");
  assert.equal(cfg.log.format, "json");
  assert.deepEqual(cfg.runner.trusted_repos, ["torjus/nixos-servers", "torjus/*"]);
  assert.equal(cfg.runner.protocol, "json");
  assert.equal(cfg.host.isolation, "bwrap");
  assert.equal(cfg.host.cgroups, "raw");
  assert.equal(cfg.host.path, "/usr/bin:/bin");
  assert.deepEqual(cfg.host.uid_range, { start: 3_000_000, count: 16 });
  assert.deepEqual(load("").host.uid_range, { start: 0, count: 0 });
  assert.equal(load("host:\n  isolation: uid+bwrap\n").host.isolation, "uid+bwrap");
  assert.match(load("host:\n  uid_range:\n    start: 60000\n    count: 2000\n").warnings.join(), /overlaps systemd's DynamicUser uids/);
  assert.match(problems("host:\n  uid_range:\n    start: 4294967000\n    count: 1000\n")[0]!, /runs past the largest uid/);
  assert.equal(cfg.host.job_gid, 0);
  assert.equal(load("host:\n  job_gid: 30000\n").host.job_gid, 30000);
  assert.match(problems("host:\n  job_gid: no-such-group-here\n")[0]!, /host\.job_gid: "no-such-group-here" is not a known group/);
  assert.deepEqual(cfg.host.hidden_paths, ["/run/secrets"]);
  assert.equal(cfg.actions.cache_offline, true);
  assert.equal(cfg.actions.max_cache_size, 1024 ** 3);
  assert.deepEqual(cfg.nix.gcroots, { enabled: true, ttl: 168 * 3600_000, keep_last: 2, default_branch_only: false });
  assert.equal(cfg.nix.job_config, "sandbox = true");
  assert.equal(cfg.nix.warn_trusted_user, false);
  assert.deepEqual(cfg.metrics, { enabled: true, addr: "[::1]:9200" });
});

test("loadConfig reads the file and reports a missing one", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nr-load-"));
  try {
    const file = join(dir, "config.yaml");
    await writeFile(file, "runner:\n  capacity: 4\n");
    const cfg = await loadConfig(file, { env, cwd: dir });
    assert.equal(cfg.runner.capacity, 4);
    assert.equal(cfg.config_file, file);
    await assert.rejects(loadConfig(join(dir, "nope.yaml")), /invalid configuration in .*nope\.yaml: cannot open config file: ENOENT/);
    assert.equal((await loadConfig(undefined, { env, cwd: dir })).runner.capacity, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a directory key that names an existing file says which key", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nr-cfg-dirfile-"));
  try {
    await writeFile(join(dir, "cachefile"), "not a directory\n");
    const text = "cache:\n  dir: cachefile\nhost:\n  workdir_parent: cachefile\nactions:\n  cache_dir: cachefile\n";
    assert.throws(() => parseConfig(text, "c.yaml", { env: { HOME: dir }, cwd: dir }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, new RegExp(`c\\.yaml:2:8: cache\\.dir: "cachefile" is not a directory \\(${dir}/cachefile is a file\\)`));
      assert.match(err.message, /host\.workdir_parent: "cachefile" is not a directory/);
      assert.match(err.message, /actions\.cache_dir: "cachefile" is not a directory/);
      return true;
    });
    // a missing directory is fine: the runner creates it
    const ok = parseConfig("cache:\n  dir: later/cache\n", "c.yaml", { env: { HOME: dir }, cwd: dir });
    assert.equal(ok.cache.dir, join(dir, "later/cache"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
