// The log stream, end to end: a step `cat`s a generated file (random bytes,
// huge lines, invalid UTF-8, partial workflow commands, secrets placed
// across the pipe's 64 KiB read boundaries) through the daemon to the
// emulator. No registered secret ever reaches a row, every row is valid
// UTF-8 of at most 64 KiB, every job ends.

import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { setupEnv, startInProcess, workflow } from "../daemon/harness.js";
import { FUZZ_RUNS } from "./fuzz-runs.js";

const SECRETS = {
  TOKEN_A: "s3cr3t-Alpha-7f9c2d41",
  TOKEN_B: "p@ss w0rd!{x}",
  MULTI: "line-one-secret\nline-two-secret",
};
const secretValues = ["s3cr3t-Alpha-7f9c2d41", "p@ss w0rd!{x}", "line-one-secret", "line-two-secret"];
const PIPE_CHUNK = 65536;

const bytes = (s: string) => Buffer.from(s, "utf8");
const segment: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
  fc.string({ maxLength: 200 }).map(bytes),
  // a huge line without a newline, or with one at the end
  fc.tuple(fc.integer({ min: 60_000, max: 300_000 }), fc.constantFrom("x", "é", "😀", "ab "), fc.boolean()).map(([n, ch, nl]) =>
    Buffer.concat([bytes(ch.repeat(Math.ceil(n / ch.length))), nl ? bytes("\n") : Buffer.alloc(0)]),
  ),
  // invalid UTF-8: stray continuation bytes, truncated sequences, encoded surrogates, overlongs
  fc.constantFrom([0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0x80, 0x80]).map((a) => Buffer.from(a)),
  // partial and whole workflow commands
  fc.constantFrom(
    "::", "::set-output name=", "::add-mask::", "::group::", "::endgroup::", "##[", "::warning file=a,line=",
    "::error::boom\n", "::stop-commands::tok\n", "::tok::\n", "::debug::d\n", "::notice title=t::n\n", "::add-mask::\n",
    "::set-output name=x::", "\r", "\r\n", "\n", "\u0000", "\u001b[31m",
  ).map(bytes),
  // secrets, whole or surrounded
  fc.tuple(fc.constantFrom(...secretValues), fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })).map(([s, a, b]) => bytes(a + s + b)),
);

/** A stream where a secret straddles the pipe's read boundary at a random offset. */
const boundarySecret: fc.Arbitrary<Buffer> = fc
  .tuple(fc.constantFrom(...secretValues), fc.integer({ min: 1, max: 20 }), fc.boolean())
  .map(([s, k, newline]) => {
    const filler = Buffer.alloc(PIPE_CHUNK - k, newline ? 0x61 : 0x62);
    if (newline) filler[filler.length - 200] = 0x0a;
    return Buffer.concat([filler, bytes(s), bytes("\n")]);
  });

const stream = fc.oneof(
  { weight: 3, arbitrary: fc.array(segment, { minLength: 1, maxLength: 12 }).map((parts) => Buffer.concat(parts)) },
  { weight: 1, arbitrary: boundarySecret },
);

test("log stream: no secret leaks, rows are valid UTF-8 of at most 64 KiB, every job ends", async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env, { capacity: 4, fetchInterval: "50ms", reportInterval: "100ms" });
  try {
    const samples = fc.sample(stream, { numRuns: Math.max(10, Math.floor(FUZZ_RUNS / 10)) });
    const jobs: { jobId: number; file: string }[] = [];
    for (let i = 0; i < samples.length; i++) {
      const file = join(env.dir, `stream-${i}.bin`);
      await writeFile(file, samples[i]!);
      const { jobId } = env.emu.enqueue({
        workflow: workflow(`      - run: cat ${file}\n      - run: cat ${file} >&2; echo; echo '::add-mask::'; cat ${file} | head -c 70000\n`),
        secrets: SECRETS,
      });
      jobs.push({ jobId, file });
    }
    let rows = 0;
    for (const { jobId, file } of jobs) {
      const job = await env.emu.waitForJobDone(jobId, 180_000);
      // A generated line can be a malformed workflow command (`::set-output name=::…`): as in GitHub's runner,
      // the step then fails, saying which command it could not process. Any other failure is a defect.
      const malformed = job.logRows.some((r) => r.startsWith("##[error]Unable to process command '::"));
      assert.ok(job.result === "success" || (job.result === "failure" && malformed), `job ${jobId} (${file}): ${job.result}\n${job.logRows.slice(-5).join("\n")}`);
      assert.equal(job.logArchived, true);
      for (const row of job.logRows) {
        rows++;
        for (const s of secretValues) assert.ok(!row.includes(s), `secret leaked in job ${jobId} (${file})`);
        assert.equal(Buffer.from(row, "utf8").toString("utf8"), row, `row of job ${jobId} is not valid UTF-8`);
        assert.ok(Buffer.byteLength(row, "utf8") <= 64 * 1024, `row of ${Buffer.byteLength(row, "utf8")} bytes in job ${jobId}`);
      }
    }
    assert.ok(rows > jobs.length);
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});
