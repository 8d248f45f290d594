import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ActionError, parseActionMetadata, prepareAction, type PrepareActionOptions } from "../../src/actions/index.js";

let workspace: string;
let opts: PrepareActionOptions;

async function write(rel: string, text: string): Promise<void> {
  const file = path.join(workspace, rel);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text);
}

function rejectsWith(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ActionError, `expected ActionError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
}

before(async () => {
  workspace = await fs.mkdtemp(path.join(os.tmpdir(), "actions-local-"));
  opts = { workspace, cacheDir: path.join(workspace, ".cache"), offline: false };
});
after(async () => {
  await fs.rm(workspace, { recursive: true, force: true });
});

describe("local actions", () => {
  it("reads action.yml with inputs, outputs and node runs", async () => {
    await write(
      "acts/node/action.yml",
      [
        "name: Greeter",
        "description: says hello",
        "inputs:",
        "  who:",
        "    description: whom",
        "    required: true",
        "    default: ${{ github.actor }}",
        "  count:",
        "    default: 3",
        "  old:",
        "    deprecationMessage: use who",
        "  bare:",
        "outputs:",
        "  greeting:",
        "    description: the text",
        "runs:",
        "  using: node20",
        "  main: dist/index.js",
        "  pre: dist/pre.js",
        "  pre-if: runner.os == 'Linux'",
        "  post: dist/post.js",
        "",
      ].join("\n"),
    );
    const p = await prepareAction("./acts/node", opts);
    assert.equal(p.isLocal, true);
    assert.equal(p.dir, path.join(workspace, "acts/node"));
    assert.equal(p.path, "acts/node");
    assert.equal(p.metadata.file, path.join(workspace, "acts/node/action.yml"));
    assert.equal(p.metadata.name, "Greeter");
    assert.deepEqual(p.metadata.inputs, {
      who: { description: "whom", required: true, default: "${{ github.actor }}" },
      count: { default: "3" },
      old: { deprecationMessage: "use who" },
      bare: {},
    });
    assert.deepEqual(p.metadata.outputs, { greeting: { description: "the text" } });
    assert.deepEqual(p.metadata.runs, {
      using: "node20",
      main: "dist/index.js",
      pre: "dist/pre.js",
      preIf: "runner.os == 'Linux'",
      post: "dist/post.js",
    });
    await p.release();
  });

  it("reads action.yaml and converts composite steps to StepModel", async () => {
    await write(
      "acts/comp/action.yaml",
      [
        "name: Comp",
        "outputs:",
        "  out:",
        "    value: ${{ steps.one.outputs.x }}",
        "runs:",
        "  using: composite",
        "  steps:",
        "    - id: one",
        "      run: echo x=1 >> $GITHUB_OUTPUT",
        "      shell: bash",
        "      env: { A: b }",
        "      working-directory: sub",
        "      continue-on-error: true",
        "    - uses: ./acts/node",
        "      if: ${{ inputs.go }}",
        "      with:",
        "        who: me",
        "      timeout-minutes: 2",
        "",
      ].join("\n"),
    );
    const p = await prepareAction("./acts/comp/", opts);
    assert.equal(p.metadata.file, path.join(workspace, "acts/comp/action.yaml"));
    assert.deepEqual(p.metadata.outputs, { out: { value: "${{ steps.one.outputs.x }}" } });
    assert.deepEqual(p.metadata.runs, {
      using: "composite",
      steps: [
        { index: 0, id: "one", run: "echo x=1 >> $GITHUB_OUTPUT", shell: "bash", env: { A: "b" }, with: {}, workingDirectory: "sub", continueOnError: true },
        { index: 1, uses: "./acts/node", if: "${{ inputs.go }}", with: { who: "me" }, env: {}, timeoutMinutes: 2 },
      ],
    });
  });

  it("refuses a local action whose metadata is a symlink out of the workspace", async () => {
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), "actions-outside-"));
    try {
      await fs.writeFile(path.join(outside, "action.yml"), "name: outside\nruns:\n  using: node20\n  main: a.js\n");
      await fs.mkdir(path.join(workspace, "acts/link"), { recursive: true });
      await fs.symlink(path.join(outside, "action.yml"), path.join(workspace, "acts/link/action.yml"));
      await fs.symlink(outside, path.join(workspace, "acts/dirlink"));
      await assert.rejects(prepareAction("./acts/link", opts), rejectsWith("not-found", /leads outside/));
      await assert.rejects(prepareAction("./acts/dirlink", opts), rejectsWith("not-found", /leads outside/));
    } finally {
      await fs.rm(outside, { recursive: true, force: true });
    }
  });

  it("prefers action.yml over action.yaml", async () => {
    await write("acts/both/action.yml", "name: yml\nruns:\n  using: node24\n  main: a.js\n");
    await write("acts/both/action.yaml", "name: yaml\nruns:\n  using: node24\n  main: b.js\n");
    const p = await prepareAction("./acts/both", opts);
    assert.equal(p.metadata.name, "yml");
  });

  it("names both file names when neither exists", async () => {
    await fs.mkdir(path.join(workspace, "acts/empty"), { recursive: true });
    await assert.rejects(prepareAction("./acts/empty", opts), rejectsWith("not-found", /'action\.yml' or 'action\.yaml'.*\.\/acts\/empty/));
    await assert.rejects(prepareAction("./acts/missing-dir", opts), rejectsWith("not-found", /action\.yml.*action\.yaml/));
  });

  it("uses the workspace root for ./ and the directory name when name is missing", async () => {
    await write("action.yml", "runs:\n  using: sh\n  main: run.sh\n");
    const p = await prepareAction("./", opts);
    assert.equal(p.dir, workspace);
    assert.equal(p.metadata.name, path.basename(workspace));
    assert.deepEqual(p.metadata.runs, { using: "sh", main: "run.sh" });
  });

  it("returns the docker kind for a Dockerfile action and docker:// references", async () => {
    await write("acts/dockerfile/Dockerfile", "FROM alpine\n");
    const p = await prepareAction("./acts/dockerfile", opts);
    assert.equal(p.metadata.runs.using, "docker");
    assert.equal(p.metadata.file, path.join(workspace, "acts/dockerfile/Dockerfile"));

    await write("acts/dockeryml/action.yml", "name: d\nruns:\n  using: docker\n  image: Dockerfile\n  args: [a, 1]\n  env: { X: 1 }\n");
    const q = await prepareAction("./acts/dockeryml", opts);
    assert.deepEqual(q.metadata.runs, { using: "docker", image: "Dockerfile", args: ["a", "1"], env: { X: "1" } });

    const d = await prepareAction("docker://alpine:3.20", opts);
    assert.equal(d.reference.kind, "docker");
    assert.equal(d.isLocal, false);
    assert.deepEqual(d.metadata.runs, { using: "docker", image: "docker://alpine:3.20" });
  });

  it("reports malformed action.yml with file and line", async () => {
    await write("acts/bad-yaml/action.yml", "name: x\nruns:\n  using: node20\n   main: [oops\n");
    await assert.rejects(prepareAction("./acts/bad-yaml", opts), (err: unknown) => {
      assert.ok(err instanceof ActionError);
      assert.equal(err.code, "invalid-metadata");
      assert.match(err.message, /\.\/acts\/bad-yaml\/action\.yml \(Line: \d+, Col: \d+\)/);
      assert.ok(err.errors.length > 0 && err.errors[0]!.line !== undefined);
      return true;
    });

    await write("acts/no-main/action.yml", "name: x\nruns:\n  using: node20\n  pre: a.js\n");
    await assert.rejects(prepareAction("./acts/no-main", opts), (err: unknown) => {
      assert.ok(err instanceof ActionError && err.code === "invalid-metadata");
      assert.match(err.message, /action\.yml \(Line: 3, Col: 3\): runs\.main: is required/);
      return true;
    });

    await write("acts/bad-using/action.yml", "name: x\nruns:\n  using: python3\n  main: a.py\n");
    await assert.rejects(prepareAction("./acts/bad-using", opts), rejectsWith("invalid-metadata", /\(Line: 3, Col: 10\): runs\.using 'python3' is not supported/));

    await write("acts/no-runs/action.yml", "name: x\ndescription: y\n");
    await assert.rejects(prepareAction("./acts/no-runs", opts), rejectsWith("invalid-metadata", /'runs' is required/));

    await write("acts/no-shell/action.yml", "name: x\nruns:\n  using: composite\n  steps:\n    - run: echo\n");
    await assert.rejects(prepareAction("./acts/no-shell", opts), rejectsWith("invalid-metadata", /\(Line: 5, Col: \d+\).*'shell' is required/));

    await write("acts/bad-required/action.yml", "name: x\ninputs:\n  a:\n    required: maybe\nruns:\n  using: node20\n  main: a.js\n");
    await assert.rejects(prepareAction("./acts/bad-required", opts), rejectsWith("invalid-metadata", /\(Line: 4, Col: 15\): inputs\.a\.required/));

    await write("acts/list/action.yml", "- a\n- b\n");
    await assert.rejects(prepareAction("./acts/list", opts), rejectsWith("invalid-metadata", /YAML mapping/));
  });

  it("flags duplicate step ids and both run and uses", () => {
    const dup = parseActionMetadata(
      "runs:\n  using: composite\n  steps:\n    - id: a\n      run: x\n      shell: sh\n    - id: a\n      uses: ./b\n",
      "f.yml",
    );
    assert.equal(dup.value, undefined);
    assert.match(dup.errors[0]!.message, /duplicate step id 'a'/);
    assert.equal(dup.errors[0]!.line, 7);
    const both = parseActionMetadata("runs:\n  using: composite\n  steps:\n    - run: x\n      uses: ./b\n      shell: sh\n", "f.yml");
    assert.match(both.errors[0]!.message, /both 'run' and 'uses'/);
  });
});
