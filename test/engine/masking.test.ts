import { test } from "node:test";
import assert from "node:assert/strict";
import { Masker } from "../../src/engine/masker.js";
import { JobLog } from "../../src/engine/job-log.js";
import { StepOutput } from "../../src/engine/step-output.js";
import type { JobEvent } from "../../src/engine/events.js";
import { job, runYaml } from "./helpers.js";

test("masker: raw value, overlaps, longest, multi-line, encoded variants", () => {
  const m = new Masker();
  m.add("abc");
  m.add("bcdef");
  assert.equal(m.mask("xabcdefx"), "x***x");
  m.add("line-one\nline-two");
  assert.equal(m.mask("pre line-two post"), "pre *** post");
  assert.equal(m.mask("line-one\nline-two"), "***");
  const s = "p@ss:w0rd/é&\"'<x>";
  m.add(s);
  assert.equal(m.mask(`b64 ${Buffer.from(s).toString("base64")}`), "b64 ***");
  // secret embedded after a prefix of 1 or 2 bytes in a base64 stream (user:password style)
  for (const prefix of ["u:", "us:", "use:", "user:"]) {
    const enc = Buffer.from(prefix + s + "tail").toString("base64");
    assert.ok(m.mask(enc).includes("***"), `prefix ${prefix}: ${enc}`);
    assert.ok(!m.mask(enc).includes(Buffer.from(s).toString("base64").slice(4, 12)));
  }
  assert.equal(m.mask(`json ${JSON.stringify(s)}`), 'json "***"');
  assert.equal(m.mask(`uri ${encodeURIComponent(s)}`), "uri ***");
  assert.equal(m.mask(`cmd ${s.replace(/"/g, '\\"')}`), "cmd ***");
  assert.equal(m.mask("nothing here"), "nothing here");
  assert.equal(m.mask(""), "");
  // whitespace-only values are never masks
  m.add("   ");
  assert.equal(m.mask("a   b"), "a   b");
});

test("step output: a secret split across chunks and over-long lines are still masked", () => {
  const events: JobEvent[] = [];
  const masker = new Masker();
  masker.add("SECRET-VALUE-123");
  const out = new StepOutput(new JobLog((e) => events.push(e), masker), { debug: false, unsecureAllowed: false });
  out.onStdout(Buffer.from("first SECRET-VA"));
  out.onStdout(Buffer.from("LUE-123 second\nno newline SECR"));
  out.onStderr(Buffer.from("stderr line\n"));
  out.onStdout(Buffer.from("ET-VALUE-123"));
  // a 200 KiB line with the secret placed across the 64 KiB cut
  const big = "x".repeat(64 * 1024 - 5) + "SECRET-VALUE-123" + "y".repeat(140 * 1024);
  out.onStdout(Buffer.from("\n" + big.slice(0, 100_000)));
  out.onStdout(Buffer.from(big.slice(100_000) + "\n"));
  out.finish();
  const lines = events.filter((e) => e.type === "log").map((e) => (e as { line: string }).line);
  assert.equal(lines[0], "first *** second");
  assert.equal(lines[1], "stderr line");
  assert.equal(lines[2], "no newline ***");
  const rest = lines.slice(3);
  assert.ok(rest.length >= 3);
  assert.ok(rest.every((l) => l.length <= 64 * 1024 + 64));
  const joined = rest.join("");
  assert.ok(!joined.includes("SECRET"));
  assert.equal(joined, big.replace("SECRET-VALUE-123", "***"));
});

test("secrets, tokens, extra masks and add-mask values never reach the log; outputs with secrets are dropped", async () => {
  const r = await runYaml(
    job(
      `      - id: s
        run: |
          echo "interpolated: \${{ secrets.MULTI }}"
          printf 'pre-%s' "$(echo -n "$TOK" | head -c 6)"; sleep 0.1; printf '%s-post\\n' "$(echo -n "$TOK" | tail -c +7)"
          echo "b64=$(echo -n "$TOK" | base64)"
          echo "token=\${{ github.token }} extra=very-extra-mask"
          echo "$MULTI"
          echo "::add-mask::dynamic-999"
          echo "dynamic-999"
          echo "leak=$TOK" >> "$GITHUB_OUTPUT"
          echo "fine=ok" >> "$GITHUB_OUTPUT"
        env:
          TOK: \${{ secrets.TOK }}
          MULTI: \${{ secrets.MULTI }}
      - run: test "\${{ steps.s.outputs.leak }}" = "tok-abcdef-123456" && echo same=yes
`,
      "    outputs:\n      leak: ${{ steps.s.outputs.leak }}\n      fine: ${{ steps.s.outputs.fine }}\n",
    ),
    { secrets: { TOK: "tok-abcdef-123456", MULTI: "first-line-x\nsecond-line-y" }, extraMasks: ["very-extra-mask"] },
  );
  assert.equal(r.outcome.result, "success", r.lines.join("\n"));
  // The script header shows the script as written (as GitHub does); check everything the step printed and the rest of the log.
  const header = r.lines.indexOf("##[endgroup]");
  const text = r.lines.slice(header + 1).join("\n");
  for (const bad of ["tok-abcdef-123456", "first-line-x", "second-line-y", "very-extra-mask", "dynamic-999", "e4c713ef7e847ee264372ec2872d8072ce05fee0", Buffer.from("tok-abcdef-123456").toString("base64")]) {
    assert.ok(!text.includes(bad), `${bad} leaked:\n${text}`);
  }
  assert.ok(r.stepLines(0).includes("pre-***-post"), r.stepLines(0).join("\n"));
  assert.deepEqual(r.outcome.outputs, { fine: "ok" });
  assert.ok(r.lines.some((l) => l.includes("Skip output 'leak' since it may contain secret.")));
  // events are masked; the value itself is unchanged for later steps (see below)
  assert.equal(r.step(0).outputs["leak"], "***");
  assert.ok(r.stepLines(1).includes("same=yes"), r.stepLines(1).join("\n"));
});

test("masker finds exactly what a naive search finds (random texts and values)", async () => {
  const fc = await import("fast-check");
  const alphabet = fc.constantFrom("a", "b", "c", "ab", "=", "\n", "x");
  const word = fc.array(alphabet, { minLength: 1, maxLength: 10 }).map((a) => a.join(""));
  fc.assert(
    fc.property(fc.array(word, { minLength: 1, maxLength: 6 }), fc.array(alphabet, { maxLength: 200 }), (values, textParts) => {
      const text = textParts.join("");
      const m = new Masker();
      const registered: string[] = [];
      for (const v of values) {
        if (v.trim() === "") continue;
        m.add(v);
        registered.push(v, ...v.split(/\r?\n|\r/).filter((l) => l.trim() !== ""));
      }
      // naive: mark every character covered by an occurrence of a raw value
      const covered = new Array<boolean>(text.length).fill(false);
      for (const v of registered) {
        for (let i = text.indexOf(v); i >= 0; i = text.indexOf(v, i + 1)) for (let j = i; j < i + v.length; j++) covered[j] = true;
      }
      const ranges = m.ranges(text);
      const got = new Array<boolean>(text.length).fill(false);
      for (const [s, e] of ranges) for (let j = s; j < e; j++) got[j] = true;
      // every raw occurrence is covered (encoded variants may cover more)
      for (let j = 0; j < text.length; j++) if (covered[j]) assert.ok(got[j], `char ${j} of ${JSON.stringify(text)} not masked for ${JSON.stringify(values)}`);
    }),
    { numRuns: 300 },
  );
});

test("line splitter: UTF-8 split across chunks, CRLF, pieces of over-long lines", async () => {
  const { LineSplitter } = await import("../../src/engine/line-splitter.js");
  const got: Array<[string, boolean]> = [];
  const sp = new LineSplitter((l, c) => got.push([l, c]), 8);
  const bytes = Buffer.from("héllo wörld\r\nab😀cdefghij\nlast");
  for (let i = 0; i < bytes.length; i += 3) sp.push(bytes.subarray(i, i + 3));
  sp.flush();
  assert.equal(got.map(([l]) => l).join(""), "héllo wörldab😀cdefghijlast");
  assert.deepEqual(got.filter(([, c]) => c).map(([l]) => l.length > 0), [true, true, true]);
  assert.ok(got.every(([l]) => l.length <= 8));
  assert.ok(!got.some(([l]) => l.includes("\uFFFD")));
  assert.ok(!got.some(([l]) => /[\uD800-\uDBFF]$/.test(l)));
  assert.equal(got.at(-1)?.[0], "last");

  // Whole chunks: a long line first, in the middle, or last; short lines around it.
  for (const text of [`${"x".repeat(20)}\nab\ncd\n`, `ab\n${"y".repeat(20)}\ncd\n`, `ab\ncd\n${"z".repeat(17)}\n`, "a\nb\nc\n"]) {
    const lines: Array<[string, boolean]> = [];
    const one = new LineSplitter((l, c) => lines.push([l, c]), 8);
    one.push(Buffer.from(text));
    one.flush();
    assert.ok(lines.every(([l]) => l.length <= 8), JSON.stringify(lines));
    assert.equal(lines.filter(([, c]) => c).length, text.split("\n").length - 1, JSON.stringify(lines));
    assert.equal(lines.map(([l, c]) => l + (c ? "\n" : "")).join(""), text);
  }
});

test("20,000 ::add-mask:: lines in one job: the job completes, masks up to the cap apply, one line says the cap was reached", async () => {
  const r = await runYaml(
    job(`      - run: |
          i=1
          while [ $i -le 20000 ]; do echo "::add-mask::mask-value-$i-x"; echo "line $i"; i=$((i+1)); done
          echo "early mask-value-1-x late mask-value-9000-x"
          echo "past the cap mask-value-19999-x"
`),
  );
  assert.equal(r.outcome.result, "success");
  const lines = r.stepLines(0);
  assert.ok(lines.includes("early *** late ***"), lines.slice(-5).join("\n"));
  const capped = lines.filter((l) => /more than 10000 masks/.test(l));
  assert.equal(capped.length, 1, capped.join("\n"));
  // Values over the cap are not masked; the log says so above.
  assert.ok(lines.includes("past the cap mask-value-19999-x"));
  assert.ok(lines.includes("line 20000"));
});

test("masker finds exactly what a naive search finds: wide alphabet, shared prefixes, values added between scans, parts of a text", async () => {
  const fc = await import("fast-check");
  const alphabet = fc.constantFrom("a", "b", "é", "日", "\ud83d", "\ude00", "\uffff", "~", "abab", "ab");
  const word = fc.array(alphabet, { minLength: 1, maxLength: 8 }).map((a) => a.join(""));
  fc.assert(
    fc.property(
      fc.array(word, { minLength: 1, maxLength: 12 }),
      fc.array(alphabet, { maxLength: 120 }),
      fc.nat(),
      fc.nat(),
      (values, textParts, x, y) => {
        const text = textParts.join("");
        const start = text.length === 0 ? 0 : x % text.length;
        const end = start + (text.length === 0 ? 0 : y % (text.length - start + 1));
        const m = new Masker();
        const registered: string[] = [];
        for (const v of values) {
          m.add(v);
          m.mask(text); // the masker builds its automata in steps
          registered.push(v);
        }
        const covered = new Array<boolean>(text.length).fill(false);
        const region = text.slice(start, end);
        for (const v of registered) {
          for (let i = region.indexOf(v); i >= 0; i = region.indexOf(v, i + 1)) for (let j = i; j < i + v.length; j++) covered[start + j] = true;
        }
        const flat = m.cover(text, start, end);
        const got = new Array<boolean>(text.length).fill(false);
        for (let i = 0; i < flat.length; i += 2) {
          assert.ok(flat[i]! >= start && flat[i + 1]! <= end && flat[i]! < flat[i + 1]!, `range ${flat[i]}-${flat[i + 1]} outside ${start}-${end}`);
          if (i > 0) assert.ok(flat[i]! > flat[i - 1]!, "sorted, merged");
          for (let j = flat[i]!; j < flat[i + 1]!; j++) got[j] = true;
        }
        // Raw values: exactly the naive coverage (encoded variants of these values are other strings of the same alphabet only when they equal a value).
        for (let j = 0; j < text.length; j++) if (covered[j]) assert.ok(got[j], `char ${j} of ${JSON.stringify(text)} not masked for ${JSON.stringify(values)}`);
        const all = new Masker();
        for (const v of values) all.add(v);
        assert.deepEqual([...all.cover(text, start, end)], [...flat], "built at once or in steps: the same ranges");
      },
    ),
    { numRuns: 300 },
  );
});

test("step output: lines masked and commands run as line by line, however the output is cut into chunks", async () => {
  const fc = await import("fast-check");
  const value = fc.constantFrom("sec", "ret", "a b", "x\ny", "sec\r\nret", "日本");
  const text = fc.array(fc.constantFrom("sec", "ret", "a", " b", "x", "y", "日本", "::", ":"), { maxLength: 6 }).map((a) => a.join(""));
  const line = fc.oneof(
    text,
    value.map((v) => `::add-mask::${v.replace(/\r?\n/g, "%0A")}`),
    fc.constant("::stop-commands::tok"),
    fc.constant("::tok::"),
    fc.constant("::debug::sec"),
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(line, fc.constantFrom("\n", "\r\n")), { maxLength: 25 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }),
      fc.subarray(["sec", "日本"]),
      (lines, cuts, initial) => {
        const bytes = Buffer.from(lines.map(([l, end]) => l + end).join(""));
        const run = (chunks: Buffer[]): string[] => {
          const events: JobEvent[] = [];
          const masker = new Masker();
          for (const v of initial) masker.add(v);
          const out = new StepOutput(new JobLog((e) => events.push(e), masker), { debug: true, unsecureAllowed: false });
          for (const c of chunks) out.onStdout(c);
          out.finish();
          return events.filter((e) => e.type === "log").map((e) => (e as { line: string }).line);
        };
        const chunks: Buffer[] = [];
        let at = 0;
        for (let k = 0; at < bytes.length; k++) {
          const n = cuts[k % cuts.length]!;
          chunks.push(bytes.subarray(at, at + n));
          at += n;
        }
        const whole = run([bytes]);
        assert.deepEqual(run(chunks), whole, "cut into chunks");
        assert.deepEqual(run([...bytes].map((b) => Buffer.from([b]))), whole, "one byte at a time");
        // The same lines one per chunk: the line-by-line path.
        const perLine = lines.map(([l, end]) => Buffer.from(l + end));
        assert.deepEqual(run(perLine), whole, "a line per chunk");
      },
    ),
    { numRuns: 300 },
  );
});
