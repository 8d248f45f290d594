// Pulls with registry credentials against a real registry started by the test
// (Debian's docker-registry, TLS, htpasswd): wrong credentials fail the job
// with the registry's answer, right ones pull the image, a present image is
// not pulled again unless --pull (force_pull) asks for it; the daemon takes
// the credentials from the task's secrets.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SERVICE_IMAGE, SOCKET, TEST_IMAGE, cli, engine, podmanMissing } from "./helpers.js";
import { setupEnv, startCli } from "../daemon/harness.js";
import { registryMissing, startRegistry, type LocalRegistry } from "./registry.js";

let skip: string | undefined;
let registry: LocalRegistry | undefined;
let image = "";
let service = "";
before(async () => {
  skip = (await podmanMissing()) ?? registryMissing();
  if (skip) return;
  registry = await startRegistry("alice", "s3cret-pw");
  image = await registry.push(engine(), TEST_IMAGE, `nr-test-${process.pid}:1`);
  service = await registry.push(engine(), SERVICE_IMAGE, `nr-svc-${process.pid}:1`);
});
after(async () => {
  for (const i of [image, service]) if (i) await engine().getImage(i).remove({ force: true }).catch(() => {});
  await registry?.close();
});

describe("job and service images from a registry with credentials", { timeout: 240_000 }, () => {
  test("wrong credentials fail the job; right ones pull; present images are pulled again only with --pull", async (t) => {
    if (skip) return t.skip(skip);
    const dir = await mkdtemp(join(tmpdir(), "nr-reg-"));
    try {
      await mkdir(join(dir, "repo/.forgejo/workflows"), { recursive: true });
      await writeFile(
        join(dir, "repo/.forgejo/workflows/ci.yml"),
        `on: push
jobs:
  t:
    runs-on: x
    container:
      image: ${image}
      credentials:
        username: \${{ secrets.REG_USER }}
        password: \${{ secrets.REG_PASSWORD }}
    services:
      web:
        image: ${service}
        credentials:
          username: \${{ secrets.REG_USER }}
          password: \${{ secrets.REG_PASSWORD }}
    steps:
      - run: echo "ran-in=$(tr '\\0' ' ' < /proc/1/cmdline) web=$(wget -q -O- http://web/)"
`,
      );
      const run = (password: string, ...extra: string[]) =>
        cli(["exec", "-C", join(dir, "repo"), "-s", "REG_USER=alice", "-s", `REG_PASSWORD=${password}`, ...extra], dir);
      const pulling = new RegExp(`Pulling image ${image.replace(/[.:/]/g, "\\$&")}`);

      const wrong = await run("not-the-password");
      assert.equal(wrong.code, 1, wrong.out);
      assert.match(wrong.out, new RegExp(`pulling image ${image.replace(/[.:/]/g, "\\$&")} failed: .*(unauthorized|authentication required)`));
      assert.doesNotMatch(wrong.out, /ran-in=/);
      assert.doesNotMatch(wrong.out, /not-the-password/, "the password is masked");
      await assert.rejects(engine().getImage(image).inspect(), "nothing was pulled");

      const right = await run("s3cret-pw");
      assert.equal(right.code, 0, right.out);
      assert.match(right.out, pulling);
      assert.ok(right.out.includes(`Pulling image ${service}`), right.out);
      assert.match(right.out, /ran-in=tail -f \/dev\/null +web=service-ok/);
      await engine().getImage(image).inspect();

      const present = await run("s3cret-pw");
      assert.equal(present.code, 0, present.out);
      assert.doesNotMatch(present.out, pulling);

      const forced = await run("s3cret-pw", "--pull");
      assert.equal(forced.code, 0, forced.out);
      assert.match(forced.out, pulling);
      assert.match(forced.out, /ran-in=tail -f \/dev\/null/);

      const forcedWrong = await run("not-the-password", "--pull");
      assert.equal(forcedWrong.code, 1, forcedWrong.out);
      assert.match(forcedWrong.out, /unauthorized|authentication required/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("daemon: credentials from the task's secrets; container.force_pull pulls for every job", async (t) => {
    if (skip) return t.skip(skip);
    await engine().getImage(image).remove({ force: true }).catch(() => {});
    const env = await setupEnv({ labels: ["native", "ct"] });
    process.env.DOCKER_HOST = `unix://${SOCKET}`;
    const daemon = await startCli(env, ["daemon"], {
      labels: ["native:host", `ct:docker://${TEST_IMAGE}`],
      extra: "container:\n  force_pull: true\n",
    });
    const workflow = `on: push
jobs:
  j:
    runs-on: ct
    container:
      image: ${image}
      credentials:
        username: alice
        password: \${{ secrets.REG_PASSWORD }}
    steps:
      - run: echo "ran-in=$(tr '\\0' ' ' < /proc/1/cmdline)"
`;
    const pulling = `Pulling image ${image}`;
    try {
      const wrong = env.emu.enqueue({ workflow, secrets: { REG_PASSWORD: "not-the-password" } });
      const w = await env.emu.waitForJobDone(wrong.jobId, 120_000);
      const wText = w.logRows.join("\n");
      assert.equal(w.result, "failure", wText);
      assert.match(wText, /pulling image .* failed: .*(unauthorized|authentication required)/);
      assert.doesNotMatch(wText, /ran-in=/);
      assert.doesNotMatch(wText, /not-the-password/);

      for (let i = 0; i < 2; i++) {
        const ok = env.emu.enqueue({ workflow, secrets: { REG_PASSWORD: "s3cret-pw" } });
        const done = await env.emu.waitForJobDone(ok.jobId, 120_000);
        const text = done.logRows.join("\n");
        assert.equal(done.result, "success", text);
        assert.ok(text.includes(pulling), `force_pull: pulled although present (job ${i + 1})\n${text}`);
        assert.match(text, /ran-in=tail -f \/dev\/null/);
      }
    } finally {
      daemon.child.kill("SIGKILL");
      await daemon.exited;
      await env.close();
    }
  });
});
