import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ActionError, prepareAction, type PrepareActionOptions } from "../../src/actions/index.js";
import { makeRepo, startGitHttpServer, type GitHttpServer } from "../helpers/git-http-server.js";

const nodeAction = (name: string) => `name: ${name}\nruns:\n  using: node20\n  main: index.js\n`;

let tmp: string;
let server: GitHttpServer;
let v1: string;
let v2: string;
let logs: string[];

function options(extra: Partial<PrepareActionOptions> = {}): PrepareActionOptions {
  return {
    workspace: path.join(tmp, "ws"),
    cacheDir: path.join(tmp, "cache"),
    offline: false,
    defaultActionsUrl: server.url,
    log: (line) => logs.push(line),
    ...extra,
  };
}

function rejectsWith(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ActionError, `expected ActionError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "actions-remote-"));
  const repos = path.join(tmp, "repos");
  v1 = (await makeRepo(repos, "acme/node", { "action.yml": nodeAction("v1"), "index.js": "1" }, { tags: ["v1"] })).commit;
  v2 = (await makeRepo(repos, "acme/node", { "action.yml": nodeAction("v2") }, { annotatedTags: ["v2"] })).commit;
  await makeRepo(repos, "acme/multi", {
    "README.md": "no action at the root",
    "sub/inner/action.yaml": "name: inner\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n      shell: sh\n",
  }, { tags: ["v1"] });
  await makeRepo(repos, "acme/branchy", { "action.yml": nodeAction("first") }, { branch: "dev" });
  await makeRepo(repos, "acme/container", { Dockerfile: "FROM alpine\n", "entry.sh": "#!/bin/sh\n" }, { tags: ["v1"], executable: ["entry.sh"] });
  server = await startGitHttpServer({ root: repos });
  logs = [];
});
after(async () => {
  await server.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe("remote actions", () => {
  it("fetches by lightweight tag into the cache", async () => {
    const p = await prepareAction("acme/node@v1", options());
    assert.equal(p.commit, v1);
    assert.equal(p.isLocal, false);
    assert.equal(p.repository, "acme/node");
    assert.equal(p.ref, "v1");
    assert.equal(p.path, "");
    assert.equal(p.url, `${server.url}/acme/node`);
    assert.equal(p.metadata.name, "v1");
    assert.ok(p.dir.startsWith(path.join(tmp, "cache")), p.dir);
    assert.equal(await fs.readFile(path.join(p.dir, "index.js"), "utf8"), "1");
    // The cached copy is a plain tree: no repository, no remote config.
    await assert.rejects(fs.stat(path.join(p.dir, ".git")));
    await p.release();
  });

  it("peels an annotated tag to its commit", async () => {
    const p = await prepareAction("acme/node@v2", options());
    assert.equal(p.commit, v2);
    assert.equal(p.metadata.name, "v2");
    assert.equal(await fs.readFile(path.join(p.dir, "index.js"), "utf8"), "1", "files of earlier commits are kept");
  });

  it("re-resolves a branch on each use", async () => {
    const first = await prepareAction("acme/branchy@dev", options());
    assert.equal(first.metadata.name, "first");
    const moved = await makeRepo(path.join(tmp, "repos"), "acme/branchy", { "action.yml": nodeAction("second") }, { branch: "dev" });
    const second = await prepareAction("acme/branchy@dev", options());
    assert.equal(second.commit, moved.commit);
    assert.notEqual(second.commit, first.commit);
    assert.equal(second.metadata.name, "second");
    assert.notEqual(second.dir, first.dir);
    // The old entry is intact for any job still using it.
    assert.match(await fs.readFile(path.join(first.dir, "action.yml"), "utf8"), /first/);
  });

  it("never resolves a full SHA remotely", async () => {
    const cacheDir = path.join(tmp, "cache-sha");
    let before = server.requests;
    await prepareAction("acme/node@v1", options({ cacheDir }));
    const byTag = server.requests - before;

    before = server.requests;
    const cold = await prepareAction(`acme/node@${v2}`, options({ cacheDir }));
    const bySha = server.requests - before;
    assert.equal(cold.commit, v2);
    assert.equal(cold.ref, v2);
    assert.ok(bySha > 0 && bySha < byTag, `a SHA needs only the fetch (sha: ${bySha} requests, tag: ${byTag})`);

    before = server.requests;
    const warm = await prepareAction(`acme/node@${v2.toUpperCase()}`, options({ cacheDir }));
    assert.equal(server.requests - before, 0, "a cached SHA needs no network at all");
    assert.equal(warm.dir, cold.dir);

    before = server.requests;
    await prepareAction("acme/node@v1", options({ cacheDir }));
    assert.ok(server.requests - before > 0, "a tag is resolved again even when cached");
  });

  it("finds an action in a sub-directory", async () => {
    const p = await prepareAction("acme/multi/sub/inner@v1", options());
    assert.equal(p.path, "sub/inner");
    assert.ok(p.dir.endsWith(path.join("sub", "inner")));
    assert.equal(p.metadata.name, "inner");
    assert.equal(p.metadata.runs.using, "composite");
    await assert.rejects(prepareAction("acme/multi@v1", options()), rejectsWith("not-found", /'action\.yml' or 'action\.yaml'.* in acme\/multi$/));
  });

  it("returns the docker kind for a remote Dockerfile action", async () => {
    const p = await prepareAction("acme/container@v1", options());
    assert.deepEqual(p.metadata.runs, { using: "docker", image: "Dockerfile" });
    assert.equal(p.metadata.file, path.join(p.dir, "Dockerfile"));
    assert.equal((await fs.stat(path.join(p.dir, "entry.sh"))).mode & 0o111, 0o111, "executable bits survive");
  });

  it("refuses metadata reached through a symlink leading out of the action", async () => {
    await makeRepo(path.join(tmp, "repos"), "evil/link", { "inner/action.yml": nodeAction("inner") }, {
      tags: ["v1"],
      symlinks: { "action.yml": "/etc/passwd", "ok/action.yml": "../inner/action.yml" },
    });
    await assert.rejects(prepareAction("evil/link@v1", options()), rejectsWith("not-found", /evil\/link\/action\.yml leads outside the action tree/));
    const ok = await prepareAction("evil/link/ok@v1", options());
    assert.equal(ok.metadata.name, "inner", "a link inside the repository is fine");
  });

  it("accepts a full URL without a default actions URL", async () => {
    const p = await prepareAction(`${server.url}/acme/node@v1`, options({ defaultActionsUrl: undefined }));
    assert.equal(p.commit, v1);
    assert.equal(p.url, `${server.url}/acme/node`);
    assert.equal(p.repository, "acme/node");
  });

  it("refuses non-HTTP transports in the actions URL", async () => {
    await assert.rejects(
      prepareAction("acme/node@v1", options({ defaultActionsUrl: `file://${path.join(tmp, "repos")}`, cacheDir: path.join(tmp, "cache-file") })),
      rejectsWith("fetch-failed", /transport 'file' not allowed/),
    );
  });

  it("fails clearly without a default actions URL", async () => {
    await assert.rejects(
      prepareAction("acme/node@v1", options({ defaultActionsUrl: undefined })),
      rejectsWith("no-default-url", /the task has no default actions URL \(forgejo_default_actions_url\)/),
    );
    await assert.rejects(prepareAction("acme/node@v1", options({ defaultActionsUrl: " " })), rejectsWith("no-default-url", /acme\/node@v1/));
  });

  it("reports unknown refs and repositories", async () => {
    await assert.rejects(prepareAction("acme/node@v9", options()), rejectsWith("resolve-failed", /cannot find ref 'v9'.*acme\/node/));
    await assert.rejects(prepareAction(`acme/node@${v1.slice(0, 7)}`, options()), rejectsWith("resolve-failed", /short commit SHA/));
    await assert.rejects(prepareAction("acme/nothing@v1", options()), rejectsWith("fetch-failed", /git ls-remote failed/));
    await assert.rejects(
      prepareAction(`acme/node@${"0".repeat(40)}`, options()),
      rejectsWith("resolve-failed", /commit 0{40} of acme\/node@0{40} does not exist/),
    );
  });

  it("offline: uses the cache without the network and fails clearly when not cached", async () => {
    const cacheDir = path.join(tmp, "cache-offline");
    const online = await prepareAction("acme/node@v1", options({ cacheDir }));
    await prepareAction("acme/branchy@dev", options({ cacheDir }));
    const devBefore = (await prepareAction("acme/branchy@dev", options({ cacheDir }))).commit;
    await makeRepo(path.join(tmp, "repos"), "acme/branchy", { "action.yml": nodeAction("third") }, { branch: "dev" });

    const before = server.requests;
    const offline = await prepareAction("acme/node@v1", options({ cacheDir, offline: true }));
    assert.equal(offline.dir, online.dir);
    assert.equal(offline.commit, v1);
    const dev = await prepareAction("acme/branchy@dev", options({ cacheDir, offline: true }));
    assert.equal(dev.commit, devBefore, "offline keeps the commit the branch last resolved to");
    const sha = await prepareAction(`acme/node@${v1}`, options({ cacheDir, offline: true }));
    assert.equal(sha.dir, online.dir);
    await assert.rejects(prepareAction("acme/node@v2", options({ cacheDir, offline: true })), rejectsWith("not-cached", /acme\/node@v2.*offline/));
    await assert.rejects(prepareAction(`acme/node@${v2}`, options({ cacheDir, offline: true })), rejectsWith("not-cached", /offline/));
    assert.equal(server.requests, before, "offline mode made no request");
  });
});

describe("remote actions when the server is down", () => {
  it("falls back to the cached commit of a ref, with a warning", async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), "actions-down-"));
    try {
      await makeRepo(path.join(root, "repos"), "acme/node", { "action.yml": nodeAction("x") }, { tags: ["v1"] });
      const srv = await startGitHttpServer({ root: path.join(root, "repos") });
      const lines: string[] = [];
      const o: PrepareActionOptions = { workspace: root, cacheDir: path.join(root, "cache"), offline: false, defaultActionsUrl: srv.url, log: (l) => lines.push(l) };
      const first = await prepareAction("acme/node@v1", o);
      await srv.close();
      const again = await prepareAction("acme/node@v1", o);
      assert.equal(again.dir, first.dir);
      assert.ok(lines.some((l) => /Warning: cannot reach .*using the cached commit/.test(l)), lines.join("\n"));
      await assert.rejects(prepareAction("acme/node@v2", o), rejectsWith("fetch-failed", /ls-remote/));
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

describe("servers that refuse unadvertised commits", () => {
  it("fetches a ref name, or everything for an old SHA", async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), "actions-v0-"));
    try {
      const repos = path.join(root, "repos");
      const old = await makeRepo(repos, "acme/v0", { "action.yml": nodeAction("old") }, { tags: ["v1"] });
      const tip = await makeRepo(repos, "acme/v0", { "action.yml": nodeAction("new") });
      const srv = await startGitHttpServer({ root: repos, protocolV0: true });
      try {
        const o: PrepareActionOptions = { workspace: root, cacheDir: path.join(root, "cache"), offline: false, defaultActionsUrl: srv.url };
        const byOldSha = await prepareAction(`acme/v0@${old.commit}`, o);
        assert.equal(byOldSha.commit, old.commit);
        assert.equal(byOldSha.metadata.name, "old");
        const byBranch = await prepareAction("acme/v0@main", o);
        assert.equal(byBranch.commit, tip.commit);
        assert.equal(byBranch.metadata.name, "new");
        await assert.rejects(prepareAction(`acme/v0@${"1".repeat(40)}`, o), rejectsWith("resolve-failed", /does not exist/));
      } finally {
        await srv.close();
      }
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

describe("cancellation", () => {
  it("stops on an aborted signal without failing a job sharing the same fetch", async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), "actions-abort-"));
    try {
      await makeRepo(path.join(root, "repos"), "acme/slow", { "action.yml": nodeAction("slow") }, { tags: ["v1"] });
      const srv = await startGitHttpServer({ root: path.join(root, "repos"), delayMs: 300 });
      try {
        const o: PrepareActionOptions = { workspace: root, cacheDir: path.join(root, "cache"), offline: false, defaultActionsUrl: srv.url };
        await assert.rejects(prepareAction("acme/slow@v1", { ...o, signal: AbortSignal.abort() }), rejectsWith("aborted", /cancelled/));

        const controller = new AbortController();
        const cancelled = prepareAction("acme/slow@v1", { ...o, signal: controller.signal });
        const other = prepareAction("acme/slow@v1", o);
        setTimeout(() => controller.abort(), 100);
        await assert.rejects(cancelled, rejectsWith("aborted", /cancelled/));
        const p = await other;
        assert.equal(p.metadata.name, "slow");
      } finally {
        await srv.close();
      }
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

describe("cache entry permissions", () => {
  it("makes fetched actions readable by other users", async () => {
    const p = await prepareAction("acme/node@v1", options({ cacheDir: path.join(tmp, "cache-perm") }));
    const mode = (await fs.stat(p.dir)).mode & 0o777;
    assert.equal(mode & 0o005, 0o005, `entry directory mode ${mode.toString(8)}`);
    assert.equal((await fs.stat(path.join(p.dir, "action.yml"))).mode & 0o004, 0o004);
  });
});
