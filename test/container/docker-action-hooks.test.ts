// Docker actions' pre-entrypoint and post-entrypoint through the real CLI and
// podman: a remote action (Dockerfile, fetched at set-up) runs its pre with the
// other pre steps; local ones (a Dockerfile, and a docker:// image) run theirs
// right before main; post entrypoints run at job end in reverse order with the
// same image, env, inputs and saved state; pre-if and post-if are honoured.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { SOCKET, TEST_IMAGE, cli, engine, execCleanedUp, podmanMissing } from "./helpers.js";
import { makeRepo, startGitHttpServer, type GitHttpServer } from "../helpers/git-http-server.js";
import { setupEnv, startCli } from "../daemon/harness.js";

const HOOKS: Record<string, string> = {
  "hooks/pre.sh": '#!/bin/sh\necho "pre name=$NAME input=$INPUT_WHO job=$JOBVAR"\necho "phase=pre-$INPUT_WHO" >> "$GITHUB_STATE"\n',
  "hooks/main.sh": '#!/bin/sh\necho "main name=$NAME args=$* state=$STATE_phase"\necho "from-main=$NAME" >> "$GITHUB_OUTPUT"\n',
  "hooks/post.sh":
    '#!/bin/sh\necho "post name=$NAME input=$INPUT_WHO job=$JOBVAR state=$STATE_phase pid1=$(tr \'\\0\' \' \' < /proc/1/cmdline)"\n',
  Dockerfile: `FROM ${TEST_IMAGE}\nCOPY hooks /hooks\nRUN chmod +x /hooks/pre.sh /hooks/main.sh /hooks/post.sh\n`,
};
const content = createHash("sha256").update(JSON.stringify(HOOKS)).digest("hex").slice(0, 12);
const HOOKS_IMAGE = `localhost/native-runner-hooks:${content}`;

const action = (name: string, image: string, extra: string) =>
  `name: ${name}\ninputs:\n  who: { default: none }\nruns:\n  using: docker\n  image: ${image}\n` +
  `  pre-entrypoint: /hooks/pre.sh\n  entrypoint: /hooks/main.sh\n  post-entrypoint: /hooks/post.sh\n` +
  `  args: [main, '\${{ inputs.who }}']\n  env:\n    NAME: ${name}\n${extra}`;

let skip: string | undefined;
let tmp = "";
let server: GitHttpServer | undefined;
before(async () => {
  skip = await podmanMissing();
  if (skip) return;
  tmp = await mkdtemp(join(tmpdir(), "nr-dah-"));
  const e = engine();
  try {
    await e.getImage(HOOKS_IMAGE).inspect();
  } catch {
    const ctx = join(tmp, "hooks-image");
    for (const [name, text] of Object.entries(HOOKS)) {
      await mkdir(join(ctx, name, ".."), { recursive: true });
      await writeFile(join(ctx, name), text);
    }
    const stream = await e.buildImage({ context: ctx, src: Object.keys(HOOKS) }, { t: HOOKS_IMAGE, networkmode: "none" } as Docker.ImageBuildOptions);
    await new Promise<void>((resolve, reject) =>
      e.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => {
        const failed = err?.message ?? out.find((o) => o.error)?.error;
        if (failed) reject(new Error(`building ${HOOKS_IMAGE}: ${failed}`));
        else resolve();
      }),
    );
  }
  // One repository name per content: the runner keeps a remote action's image by repository and ref.
  await makeRepo(join(tmp, "repos"), `acme/dock-${content}`, { ...HOOKS, "action.yml": action("A", "Dockerfile", "") }, { tags: ["v1"] });
  await makeRepo(join(tmp, "repos"), `acme/img-${content}`, {
    "action.yml": action("B", `docker://${HOOKS_IMAGE}`, "  pre-if: inputs.who == 'nobody'\n  post-if: always()\n"),
  }, { tags: ["v1"] });
  server = await startGitHttpServer({ root: join(tmp, "repos") });
});
after(async () => {
  await server?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("docker actions' pre and post entrypoints", { timeout: 300_000 }, () => {
  test("pre at set-up (remote) or before main (local), post at job end in reverse order; pre-if and post-if", async (t) => {
    if (skip) return t.skip(skip);
    const dir = join(tmp, "run");
    const files: Record<string, string> = {
      ".forgejo/workflows/ci.yml": `on: push
jobs:
  t:
    runs-on: x
    container: ${TEST_IMAGE}
    env:
      JOBVAR: j1
    steps:
      - run: echo "first-main-step"
      - id: a
        uses: acme/dock-${content}@v1
        with:
          who: ra
      - run: echo "between"
      - id: b
        uses: ./img
        with:
          who: lb
      - id: c
        uses: ./df
        with:
          who: lc
      - run: echo "outs=\${{ steps.a.outputs.from-main }}/\${{ steps.b.outputs.from-main }}/\${{ steps.c.outputs.from-main }}"
`,
      "img/action.yml": action("B", `docker://${HOOKS_IMAGE}`, "  post-if: success()\n"),
      "df/action.yml": action("C", "Dockerfile", "  pre-if: inputs.who == 'nobody'\n  post-if: failure()\n"),
    };
    for (const [name, text] of Object.entries(HOOKS)) files[`df/${name}`] = text;
    for (const [name, text] of Object.entries(files)) {
      await mkdir(join(dir, name, ".."), { recursive: true });
      await writeFile(join(dir, name), text);
    }
    await chmod(join(dir, "df/hooks/pre.sh"), 0o755);
    const res = await cli(["exec", "-C", dir, "--default-actions-url", server!.url], tmp);
    assert.equal(res.code, 0, res.out);
    const order = (re: RegExp) => {
      const i = res.out.search(re);
      assert.ok(i >= 0, `${re} in the log:\n${res.out}`);
      return i;
    };
    const preA = order(/^.*pre name=A input=ra job=j1$/m);
    const first = order(/^.*│ first-main-step$|^first-main-step$/m);
    const mainA = order(/^.*main name=A args=main ra state=pre-ra$/m);
    const between = order(/^.*│ between$|^between$/m);
    const preB = order(/^.*pre name=B input=lb job=j1$/m);
    const mainB = order(/^.*main name=B args=main lb state=pre-lb$/m);
    const mainC = order(/^.*main name=C args=main lc state=$/m);
    const outs = order(/outs=A\/B\/C$/m);
    const postB = order(/^.*post name=B input=lb job=j1 state=pre-lb pid1=.*\/hooks\/post\.sh/m);
    const postA = order(/^.*post name=A input=ra job=j1 state=pre-ra pid1=.*\/hooks\/post\.sh/m);
    assert.ok(preA < first && first < mainA && mainA < between && between < preB && preB < mainB, "pre of the remote action at set-up, of the local one before its main");
    assert.ok(mainB < mainC && mainC < outs && outs < postB && postB < postA, "post entrypoints at job end, last registered first");
    assert.doesNotMatch(res.out, /pre name=C/, "pre-if false");
    assert.doesNotMatch(res.out, /post name=C/, "post-if failure() on a successful job");
    await execCleanedUp(res.pid);
  });

  test("daemon (job worker): remote actions' pre at set-up, post at job end in reverse order; pre-if and post-if", async (t) => {
    if (skip) return t.skip(skip);
    const env = await setupEnv({ labels: ["native", "ct"] });
    process.env.DOCKER_HOST = `unix://${SOCKET}`;
    const daemon = await startCli(env, ["daemon"], { labels: ["native:host", `ct:docker://${TEST_IMAGE}`] });
    try {
      const job = env.emu.enqueue({
        workflow: `on: push
jobs:
  j:
    runs-on: ct
    env:
      JOBVAR: d1
    steps:
      - run: echo "first-main-step"
      - uses: ${server!.url}/acme/dock-${content}@v1
        with:
          who: da
      - uses: ${server!.url}/acme/img-${content}@v1
        with:
          who: db
      - run: echo "last-main-step"
`,
      });
      const done = await env.emu.waitForJobDone(job.jobId, 180_000);
      const rows = done.logRows;
      const text = rows.join("\n");
      assert.equal(done.result, "success", text);
      const at = (re: RegExp) => {
        const i = rows.findIndex((r) => re.test(r));
        assert.ok(i >= 0, `${re} in the log:\n${text}`);
        return i;
      };
      const preA = at(/^pre name=A input=da job=d1$/);
      const first = at(/^first-main-step$/);
      const mainA = at(/^main name=A args=main da state=pre-da$/);
      const mainB = at(/^main name=B args=main db state=$/);
      const last = at(/^last-main-step$/);
      const postB = at(/^post name=B input=db job=d1 state= pid1=.*\/hooks\/post\.sh/);
      const postA = at(/^post name=A input=da job=d1 state=pre-da pid1=.*\/hooks\/post\.sh/);
      assert.ok(preA < first && first < mainA && mainA < mainB && mainB < last && last < postB && postB < postA, text);
      assert.doesNotMatch(text, /pre name=B/, "pre-if false");
    } finally {
      daemon.child.kill("SIGKILL");
      await daemon.exited;
      await env.close();
    }
  });
});
