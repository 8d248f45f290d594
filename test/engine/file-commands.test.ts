import { test } from "node:test";
import assert from "node:assert/strict";
import { parseKeyValueFile } from "../../src/engine/file-commands.js";
import { job, runYaml } from "./helpers.js";

test("key=value and heredoc parsing follows GitHub's rules", () => {
  assert.deepEqual(parseKeyValueFile("A=1\nB=x=y\n\nC=\n", "output"), [["A", "1"], ["B", "x=y"], ["C", ""]]);
  assert.deepEqual(parseKeyValueFile("M<<EOF\nline1\nline2\nEOF\n", "output"), [["M", "line1\nline2"]]);
  // empty value, delimiter as last line without newline, `=` inside heredoc name line after <<
  assert.deepEqual(parseKeyValueFile("E<<X\nX", "output"), [["E", ""]]);
  assert.deepEqual(parseKeyValueFile("H<<a=b\nv\na=b\n", "output"), [["H", "v"]]);
  // the delimiter must stand alone: an indented or suffixed delimiter is value text
  assert.deepEqual(parseKeyValueFile("V<<END\n END\nEND x\nEND\n", "output"), [["V", " END\nEND x"]]);
  // a value keeps its inner empty lines
  assert.deepEqual(parseKeyValueFile("V<<END\n\na\n\nEND\n", "output"), [["V", "\na\n"]]);
  assert.throws(() => parseKeyValueFile("V<<END\nno end\n", "output"), /Matching delimiter not found 'END'/);
  assert.throws(() => parseKeyValueFile("justtext\n", "output"), /Invalid output format 'justtext'/);
  assert.throws(() => parseKeyValueFile("<<EOF\nx\nEOF\n", "output"), /must not be empty/);
  assert.throws(() => parseKeyValueFile("N<<\nx\n", "output"), /delimiter must not be empty/);
  assert.throws(() => parseKeyValueFile("=v\n", "output"), /must not be empty/);
});

test("GITHUB_ENV, GITHUB_OUTPUT, GITHUB_PATH, FORGEJO_* aliases and step summary", async () => {
  const r = await runYaml(
    job(`      - id: one
        run: |
          echo "FROM_ENV=hello" >> "$GITHUB_ENV"
          { echo "MULTI<<EOF"; echo "l1"; echo "l2"; echo "EOF"; } >> "$FORGEJO_ENV"
          echo "out=42" >> "$GITHUB_OUTPUT"
          { echo "big<<ZZ"; echo "a"; echo "b"; echo "ZZ"; } >> "$FORGEJO_OUTPUT"
          mkdir -p "$RUNNER_TEMP/bin" && printf '#!/bin/sh\\necho tool-ran\\n' > "$RUNNER_TEMP/bin/mytool" && chmod +x "$RUNNER_TEMP/bin/mytool"
          echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
          echo "## Summary one" >> "$GITHUB_STEP_SUMMARY"
          test "$GITHUB_ENV" = "$FORGEJO_ENV"
          echo "statepath=$GITHUB_STATE" >> "$GITHUB_OUTPUT"
      - run: |
          echo "env=$FROM_ENV"
          echo "multi=$(echo "$MULTI" | tr '\\n' ',')"
          mytool
          echo "ctx=\${{ env.FROM_ENV }} out=\${{ steps.one.outputs.out }} big=\${{ steps.one.outputs.big }}"
          test ! -s "$GITHUB_ENV" && echo fresh-file
          test "$GITHUB_STATE" != "\${{ steps.one.outputs.statepath }}" && test ! -e "\${{ steps.one.outputs.statepath }}" && test -f "$GITHUB_STATE" && echo new-name
          echo "two" >> "$GITHUB_STEP_SUMMARY"
`,
      "    outputs:\n      o: ${{ steps.one.outputs.out }}\n",
    ),
  );
  assert.equal(r.outcome.result, "success", r.lines.join("\n"));
  const l = r.stepLines(1);
  assert.ok(l.includes("env=hello"));
  assert.ok(l.includes("multi=l1,l2,"));
  assert.ok(l.includes("tool-ran"));
  assert.ok(l.includes("ctx=hello out=42 big=a"), l.join("\n"));
  assert.ok(l.includes("fresh-file"));
  assert.ok(l.includes("new-name"));
  assert.deepEqual({ ...r.step(0).outputs, statepath: undefined }, { out: "42", big: "a\nb", statepath: undefined });
  assert.deepEqual(r.outcome.outputs, { o: "42" });
  const summary = r.events.find((e) => e.type === "summary");
  assert.ok(summary && summary.type === "summary");
  assert.equal(summary.markdown, "## Summary one\n\ntwo\n");
  const complete = r.events.filter((e) => e.type === "log" && e.stage === "complete").map((e) => (e as { line: string }).line);
  assert.ok(complete.includes("## Summary one"));
});

test("a malformed file command fails the step with GitHub's message", async () => {
  const r = await runYaml(
    job(`      - run: |
          { echo "X<<EOF"; echo "never closed"; } >> "$GITHUB_OUTPUT"
      - run: echo "garbage line" >> "$GITHUB_ENV"
        if: always()
`),
  );
  assert.equal(r.outcome.result, "failure");
  assert.equal(r.step(0).outcome, "failure");
  assert.ok(r.stepLines(0).some((l) => l.includes("Matching delimiter not found 'EOF'")), r.stepLines(0).join("\n"));
  assert.ok(r.stepLines(1).some((l) => l.includes("Invalid environment variable format 'garbage line'")));
});

test("an oversized step summary is reported but does not fail the step", async () => {
  const r = await runYaml(job(`      - run: head -c 1100000 /dev/zero | tr '\\\\0' a >> "$GITHUB_STEP_SUMMARY"\n`));
  assert.equal(r.step(0).outcome, "success", r.lines.join("\n"));
  assert.ok(r.stepLines(0).some((l) => l.includes("supports content up a size of 1024k")));
  assert.equal(r.events.filter((e) => e.type === "summary").length, 0);
});

test("a file command replaced by a symlink is refused, not followed", async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "outside-"));
  const target = join(dir, "runner-only");
  writeFileSync(target, "stolen=runner-secret\n");
  try {
    const r = await runYaml(
      job(`      - id: s
        run: rm "$GITHUB_OUTPUT" && ln -s ${target} "$GITHUB_OUTPUT"
      - if: always()
        run: rm -rf "$RUNNER_TEMP/_runner_file_commands" && ln -s /etc "$RUNNER_TEMP/_runner_file_commands"
      - if: always()
        run: echo "ok=1" >> "$GITHUB_OUTPUT"
`),
    );
    assert.equal(r.step(0).outcome, "failure");
    assert.deepEqual(r.step(0).outputs, {});
    assert.ok(r.stepLines(0).some((l) => l.includes("is not a regular file")));
    assert.equal(r.step(2).outcome, "success", r.stepLines(2).join("\n"));
    assert.deepEqual(r.step(2).outputs, { ok: "1" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
