// actions/checkout inside a job container: the real action (../shared/peers'
// bundle of actions/checkout, served as actions/checkout@v4) runs with the
// container's node and git and clones the job's repository from a forge on
// the host's outbound address, authenticated with the job's token.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCli, type TestEnv } from "../daemon/harness.js";
import { peersDir } from "../e2e-gitea/gitea.js";
import { startForge, type Forge } from "../e2e/helpers.js";
import { makeRepo } from "../helpers/git-http-server.js";
import { SOCKET, TEST_IMAGE, podmanMissing } from "./helpers.js";
import { outboundAddress } from "../../src/container/outbound.js";
import { createForgejoClient } from "../../src/protocol/index.js";

const peers = peersDir();
const BUNDLE = peers ? join(peers, "actions-checkout.bundle") : "../shared/peers/actions-checkout.bundle";

let skip: string | undefined;
let dir = "";
let forge: Forge | undefined;
before(async () => {
  skip = await podmanMissing();
  if (!skip && !existsSync(BUNDLE)) skip = `no ${BUNDLE} (the real actions/checkout)`;
  const host = skip ? undefined : await outboundAddress();
  if (!skip && !host) skip = "no outbound address for job containers to reach the forge";
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), "nr-ct-checkout-"));
  const gitRoot = join(dir, "git");
  const checkout = join(gitRoot, "actions/checkout.git");
  execFileSync("git", ["clone", "-q", "--bare", BUNDLE, checkout]);
  execFileSync("git", ["-C", checkout, "tag", "-f", "v4", "refs/heads/releases/v4"]);
  forge = await startForge(gitRoot, { host: host! });
});
after(async () => {
  await forge?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("the real actions/checkout clones the job's repository inside the job container (daemon)", async (t) => {
  if (skip) return t.skip(skip);
  const { commit } = await makeRepo(join(dir, "git"), "alice/webapp", { "README.md": "checked out in a container\n", "src/a.txt": "a\n" });
  const reg = await createForgejoClient({ baseUrl: `${forge!.url}/` }).register({
    name: "ct", token: forge!.emu.createRegistrationToken(), version: "test", labels: ["ct"],
  });
  // The runner talks to the forge's origin (its github.server_url), as to a Forgejo instance.
  const emu = Object.create(forge!.emu, { url: { value: forge!.url } }) as TestEnv["emu"];
  const env: TestEnv = { emu, dir: join(dir, "runner"), uuid: reg.runner!.uuid, token: reg.runner!.token, close: async () => {} };
  await mkdir(env.dir, { recursive: true });
  process.env.DOCKER_HOST = `unix://${SOCKET}`;
  const daemon = await startCli(env, ["daemon"], { labels: [`ct:docker://${TEST_IMAGE}`] });
  try {
    const job = forge!.emu.enqueue({
      repo: "alice/webapp",
      sha: commit,
      ref: "refs/heads/main",
      context: forge!.context,
      workflow: `on: push
jobs:
  j:
    runs-on: ct
    steps:
      - uses: actions/checkout@v4
      - run: |
          echo "pid1=$(tr '\\0' ' ' < /proc/1/cmdline)"
          echo "readme=$(cat README.md) head=$(git rev-parse HEAD) files=$(ls src)"
`,
    });
    const done = await forge!.emu.waitForJobDone(job.jobId, 180_000);
    const text = done.logRows.join("\n");
    assert.equal(done.result, "success", text);
    assert.match(text, /pid1=tail -f \/dev\/null/);
    assert.match(text, new RegExp(`^readme=checked out in a container head=${commit} files=a\\.txt$`, "m"));
  } finally {
    daemon.child.kill("SIGKILL");
    await daemon.exited;
  }
});
