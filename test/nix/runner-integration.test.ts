import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createNixIntegration } from "../../src/nix/index.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { createLogger } from "../../src/observability/logger.js";
import type { NixConfigSection } from "../../src/config/types.js";

const hasNix = spawnSync("nix-store", ["--version"]).status === 0;

function capture(): { log: ReturnType<typeof createLogger>; lines: () => Array<{ level: number; msg: string }> } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const log = createLogger({ level: "debug", stream });
  return { log, lines: () => text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

const nixCfg = (over: Partial<NixConfigSection["gcroots"]> = {}, rest: Partial<NixConfigSection> = {}): NixConfigSection => ({
  gcroots: { enabled: true, ttl: 7 * 86_400_000, keep_last: 0, default_branch_only: true, ...over },
  job_config: "experimental-features = nix-command flakes\naccept-flake-config = false",
  warn_trusted_user: false,
  ...rest,
});

test("without nix-store on PATH no roots are kept, but jobs still get NIX_CONFIG and the declared-roots file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nr-nixint-"));
  try {
    const { log, lines } = capture();
    const nix = createNixIntegration({ nix: nixCfg(), stateDir: dir, log, path: "/nonexistent" });
    assert.equal(nix.manager, undefined);
    await nix.start();
    nix.close();
    assert.ok(lines().some((l) => /nix-store is not on PATH/.test(l.msg)));
    const rows: string[] = [];
    const host = nix.hostFor(new PlainBackend(join(dir, "work")), { taskId: 5n, repository: "o/r", event: {}, ref: "refs/heads/main" }, (l) => rows.push(l));
    const sb = await host.prepareJob({ jobKey: "task-5" });
    assert.equal(sb.baseEnv.NIX_CONFIG, "experimental-features = nix-command flakes\naccept-flake-config = false");
    assert.equal(sb.baseEnv.NATIVE_RUNNER_NIX_ROOTS, join(sb.dirs.temp, "nix-roots"));
    await sb.dispose();
    assert.deepEqual(rows, [], "nothing to report without a manager");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("start sweeps expired run dirs and reports usage; a harvest reports usage again", { skip: hasNix ? false : "nix-store is not installed" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "nr-nixint-"));
  try {
    const id = `nr-int-${process.pid}-${Date.now()}`;
    const path = execFileSync("nix-store", ["--add", writeFile(join(dir, id), id)], { encoding: "utf8" }).trim();
    const { log } = capture();
    const nix = createNixIntegration({ nix: nixCfg(), stateDir: join(dir, "state"), log });
    assert.ok(nix.manager);
    // an expired run (8 days old) and a fresh one
    const refDir = join(dir, "state/gcroots/o/r/heads_main");
    const old = join(refDir, "1-build");
    const fresh = join(refDir, "2-build");
    for (const d of [old, fresh]) {
      mkdirSync(d, { recursive: true });
      execFileSync("nix-store", ["--add-root", join(d, "out"), "--realise", path]);
    }
    const past = new Date(Date.now() - 8 * 86_400_000);
    utimesSync(old, past, past);
    const usage: Array<[number, number]> = [];
    nix.onUsage((roots, bytes) => usage.push([roots, bytes]));
    await nix.start();
    nix.close();
    assert.ok(!existsSync(old), "expired run removed");
    assert.ok(existsSync(fresh), "fresh run kept");
    assert.equal(usage.length, 1);
    assert.equal(usage[0]![0], 1);
    assert.ok(usage[0]![1] > 0, "closure bytes measured");
    // a late listener gets the last value at once
    const late: number[] = [];
    nix.onUsage((roots) => late.push(roots));
    assert.deepEqual(late, [1]);

    // a job that leaves a result link: harvested into a new run dir, usage published again
    const rows: string[] = [];
    const host = nix.hostFor(
      new PlainBackend(join(dir, "work")),
      { taskId: 7n, repository: "o/r", event: { repository: { default_branch: "main" } }, ref: "refs/heads/main", runId: "3", jobId: "build" },
      (l) => rows.push(l),
    );
    const sb = await host.prepareJob({ jobKey: "task-7" });
    const { symlinkSync } = await import("node:fs");
    symlinkSync(path, join(sb.dirs.workspace, "result"));
    await sb.dispose();
    assert.ok(rows.includes(`nix: keeping ${path} (from ${join(sb.dirs.workspace, "result")})`), rows.join("\n"));
    assert.ok(existsSync(join(refDir, "3-build")));
    for (let i = 0; i < 100 && late.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(late, [1, 1], "the same path rooted twice still counts once");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("warns loudly when the runner's user is a Nix trusted-user", { skip: hasNix && process.getuid?.() === 0 ? false : "needs root and nix" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "nr-nixint-"));
  try {
    const trusted = spawnSync("nix", ["--extra-experimental-features", "nix-command", "show-config", "--json"], { encoding: "utf8" });
    const list = (JSON.parse(trusted.stdout) as Record<string, { value: unknown }>)["trusted-users"]?.value;
    const rootTrusted = Array.isArray(list) && (list.includes("root") || list.includes("*"));
    const { log, lines } = capture();
    const nix = createNixIntegration({ nix: nixCfg({}, { warn_trusted_user: true }), stateDir: dir, log });
    await nix.start();
    nix.close();
    let warned = false;
    for (let i = 0; i < 100 && !warned; i++) {
      warned = lines().some((l) => l.level === 40 && l.msg.startsWith("!!! the runner's user \"root\" is a Nix trusted-user"));
      if (!warned) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(warned, rootTrusted, JSON.stringify(lines()));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function writeFile(p: string, content: string): string {
  writeFileSync(p, content);
  return p;
}

test("the Nix wrapper of a job's sandbox passes on every optional part of the sandbox it wraps", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nr-nixint-"));
  try {
    const plain = new PlainBackend(join(dir, "work"));
    const hints = { processGroups: [4242], uid: 3_720_001, gid: 3_720_001 };
    const inner = {
      name: "stub",
      async prepareJob(p: { jobKey: string }) {
        const sb = await plain.prepareJob(p);
        return Object.assign(sb, { killHints: () => hints, oomReport: async () => "oom", runsActionImages: true, takePrestarted: () => undefined });
      },
    };
    const nix = createNixIntegration({ nix: nixCfg(), stateDir: dir, log: capture().log, path: "/nonexistent" });
    const sb = await nix.hostFor(inner, { taskId: 9n, repository: "o/r", event: {}, ref: "refs/heads/main" }, () => {}).prepareJob({ jobKey: "task-9" });
    try {
      assert.deepEqual(sb.killHints?.(), hints);
      assert.equal(await sb.oomReport?.(), "oom");
      assert.equal(sb.runsActionImages, true);
      assert.equal(typeof sb.takePrestarted, "function");
    } finally {
      await sb.dispose();
      nix.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
