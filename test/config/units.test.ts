import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDuration, formatSize, parseGoDuration, parseSize } from "../../src/config/units.js";

test("Go durations parse to milliseconds", () => {
  const cases: [string, number | undefined][] = [
    ["0", 0],
    ["2s", 2000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["1.5h", 5_400_000],
    ["-2s", -2000],
    ["+3m", 180_000],
    ["100us", 0.1],
    ["100\u00b5s", 0.1],
    ["1000000ns", 1],
    ["1h0m0s", 3_600_000],
    [".5s", 500],
    ["", undefined],
    ["5", undefined], // Go requires a unit except for "0"
    ["7d", 7 * 86_400_000],
    ["1d12h", 36 * 3_600_000],
    ["5w", undefined],
    ["s", undefined],
    ["1h 30m", undefined],
    ["forever", undefined],
  ];
  for (const [text, want] of cases) {
    const got = parseGoDuration(text);
    if (want === undefined) assert.equal(got, undefined, text);
    else assert.ok(got !== undefined && Math.abs(got - want) < 1e-9, `${text}: ${got} != ${want}`);
  }
});

test("durations format like Go's time.Duration.String", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(500), "500ms");
  assert.equal(formatDuration(2000), "2s");
  assert.equal(formatDuration(5_400_000), "1h30m0s");
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(-1500), "-1.5s");
});

test("sizes parse to bytes", () => {
  const cases: [string, number | undefined][] = [
    ["10GiB", 10 * 1024 ** 3],
    ["512M", 512 * 1024 ** 2],
    ["512MiB", 512 * 1024 ** 2],
    ["1.5GB", 1.5e9],
    ["4096", 4096],
    ["4k", 4096],
    ["2 TiB", 2 * 1024 ** 4],
    ["1KB", 1000],
    ["12XB", undefined],
    ["-1G", undefined],
    ["lots", undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseSize(text), want, text);
  assert.equal(formatSize(10 * 1024 ** 3), "10GiB");
  assert.equal(formatSize(1536 * 1024 ** 2), "1536MiB");
  assert.equal(formatSize(1001), "1001");
});
