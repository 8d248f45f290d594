// actions/cache from inside a job container: the daemon's cache server is on
// the outbound address (cache.host empty), a JavaScript action bundled with
// the real @actions/cache (as published actions are) runs with the container's
// node and GNU tar/zstd, saves in one job and restores in the next.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { REPO_ROOT, setupEnv, startCli } from "../daemon/harness.js";
import { makeRepo, startGitHttpServer, type GitHttpServer } from "../helpers/git-http-server.js";
import { SOCKET, TEST_IMAGE, podmanMissing } from "./helpers.js";

const FIXTURE = join(REPO_ROOT, "test/cache/fixtures/cache-action");

let skip: string | undefined;
let tmp = "";
let server: GitHttpServer | undefined;
let actionUrl = "";
before(async () => {
  skip = await podmanMissing();
  if (skip) return;
  tmp = await mkdtemp(join(tmpdir(), "nr-ct-cache-"));
  const bundle = await build({
    entryPoints: [join(FIXTURE, "index.mjs")],
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    write: false,
    logLevel: "warning",
    banner: { js: "import { createRequire as __ccRequire } from 'node:module'; const require = __ccRequire(import.meta.url);" },
  });
  await makeRepo(join(tmp, "repos"), "acme/cache", {
    "action.yml": await readFile(join(FIXTURE, "action.yml"), "utf8"),
    "index.mjs": bundle.outputFiles[0]!.text,
  }, { tags: ["v1"] });
  server = await startGitHttpServer({ root: join(tmp, "repos") });
  actionUrl = `${server.url}/acme/cache@v1`;
});
after(async () => {
  await server?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const LABEL = `ct:docker://${TEST_IMAGE}`;

describe("actions/cache inside a job container (daemon)", { timeout: 300_000 }, () => {
  test("a job saves with the real @actions/cache client, the next job restores the same bytes", async (t) => {
    if (skip) return t.skip(skip);
    const env = await setupEnv({ labels: ["native", "ct"] });
    process.env.DOCKER_HOST = `unix://${SOCKET}`;
    const cli = await startCli(env, ["daemon"], { labels: ["native:host", LABEL], cache: true, cacheHost: "" });
    const key = `deps-${process.pid}-${Date.now()}`;
    try {
      const save = env.emu.enqueue({
        workflow: `on: push
jobs:
  j:
    runs-on: ct
    steps:
      - run: |
          echo "pid1=$(tr '\\0' ' ' < /proc/1/cmdline) tar=$(tar --version | head -1)"
          mkdir -p deps/sub
          head -c 300000 /dev/urandom | base64 > deps/data.txt
          echo nested > deps/sub/n.txt
          echo "sum1=$(cat deps/data.txt deps/sub/n.txt | sha256sum | cut -d' ' -f1)"
      - id: s
        uses: ${actionUrl}
        with: { mode: save, path: deps, key: ${key} }
      - run: echo "saved-id=\${{ steps.s.outputs.cache-id }}"
`,
      });
      const saved = await env.emu.waitForJobDone(save.jobId, 180_000);
      const rows1 = saved.logRows.join("\n");
      assert.equal(saved.result, "success", rows1);
      assert.match(rows1, /pid1=tail -f \/dev\/null +tar=tar \(GNU tar\)/);
      assert.match(rows1, /\[command\](\/usr)?\/bin\/tar --posix -cf cache\.tzst .*--use-compress-program zstdmt/);
      assert.match(rows1, /^saved-id=[1-9]\d*$/m, rows1);
      const sum1 = /^sum1=([0-9a-f]{64})$/m.exec(rows1)?.[1];
      assert.ok(sum1, rows1);

      const restore = env.emu.enqueue({
        workflow: `on: push
jobs:
  j:
    runs-on: ct
    steps:
      - run: test ! -e deps && echo "fresh-workspace"
      - id: r
        uses: ${actionUrl}
        with: { mode: restore, path: deps, key: ${key}-newer, restore-keys: ${key} }
      - run: |
          echo "hit=\${{ steps.r.outputs.cache-hit }}"
          echo "sum2=$(cat deps/data.txt deps/sub/n.txt | sha256sum | cut -d' ' -f1)"
`,
      });
      const restored = await env.emu.waitForJobDone(restore.jobId, 180_000);
      const rows2 = restored.logRows.join("\n");
      assert.equal(restored.result, "success", rows2);
      assert.match(rows2, /^fresh-workspace$/m);
      assert.match(rows2, new RegExp(`^hit=${key}$`, "m"));
      assert.match(rows2, new RegExp(`^sum2=${sum1}$`, "m"));
    } finally {
      cli.child.kill("SIGKILL");
      await cli.exited;
      await env.close();
    }
  });
});
