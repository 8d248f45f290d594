// A node:test reporter for people: one line per finished test file, the
// failures with their first error lines as they happen, and a closing
// "N passed, N failed, N skipped" line. scripts/test.sh writes the full TAP
// stream to a file next to it.
import { relative } from "node:path";

const cwd = process.cwd();
const totalFiles = Number(process.env.NR_TEST_FILE_COUNT) || 0;
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const red = (s) => paint(31, s);
const green = (s) => paint(32, s);
const dim = (s) => paint(2, s);

const rel = (file) => (file ? relative(cwd, file) || file : "(no file)");

function errorLines(err) {
  if (!err) return [];
  const inner = err.cause ?? err;
  const text = String(inner?.message ?? inner ?? "").trim() || String(err.message ?? "").trim();
  const lines = text.split("\n").slice(0, 6);
  const stack = String(inner?.stack ?? "").split("\n").find((l) => /\.test\.(ts|mjs|js):\d+/.test(l));
  if (stack) lines.push(stack.trim());
  return lines;
}

function fmtSeconds(ms) {
  return `${(ms / 1000).toFixed(1)}s`;
}

export default async function* reporter(source) {
  const started = Date.now();
  const totals = { passed: 0, failed: 0, skipped: 0, todo: 0 };
  const perFile = new Map();
  const failures = [];
  let filesDone = 0;
  const stderrTail = new Map();
  const fileStats = (file) => {
    let s = perFile.get(file);
    if (!s) perFile.set(file, (s = { passed: 0, failed: 0, skipped: 0, todo: 0, failures: [] }));
    return s;
  };

  // test:pass/test:fail come in reporting order, one file after another, so a file is complete
  // once events of the next file arrive (or the stream ends). A file's own test:complete
  // carries its duration; a file that fails to load reports a test:fail of its own.
  let current;
  const durations = new Map();
  const fileLine = (file) => {
    const s = fileStats(file);
    filesDone++;
    const parts = [`${s.passed} passed`];
    if (s.failed) parts.push(red(`${s.failed} failed`));
    if (s.skipped) parts.push(`${s.skipped} skipped`);
    if (s.todo) parts.push(`${s.todo} todo`);
    const mark = s.failed ? red("✗") : green("✓");
    const count = totalFiles ? `[${filesDone}/${totalFiles}] ` : "";
    const took = durations.has(file) ? `  ${dim(fmtSeconds(durations.get(file)))}` : "";
    let out = `${dim(count)}${mark} ${rel(file)}  ${parts.join(", ")}${took}\n`;
    for (const f of s.failures) {
      out += `    ${red("✗")} ${f.name}\n`;
      for (const l of f.lines) out += `      ${l}\n`;
    }
    return out;
  };
  for await (const event of source) {
    const { type, data } = event;
    if (type === "test:stderr" && data.file) {
      const tail = stderrTail.get(data.file) ?? [];
      tail.push(...String(data.message).split("\n").filter((l) => l.trim() !== ""));
      stderrTail.set(data.file, tail.slice(-6));
      continue;
    }
    const isFile = data?.file !== undefined && data.name === data.file;
    if (type === "test:complete" && isFile) durations.set(data.file, data.details?.duration_ms ?? 0);
    if (type !== "test:pass" && type !== "test:fail") continue;
    if (data.file !== current) {
      if (current !== undefined) yield fileLine(current);
      current = data.file;
    }
    if (data.details?.type === "suite") continue;
    const s = fileStats(data.file);
    if (type === "test:pass") {
      const kind = data.skip !== undefined && data.skip !== false ? "skipped" : data.todo !== undefined && data.todo !== false ? "todo" : "passed";
      s[kind]++;
      totals[kind]++;
      continue;
    }
    // A failing `todo` test is expected to fail and does not fail the run.
    if (data.todo !== undefined && data.todo !== false) {
      s.todo++;
      totals.todo++;
      continue;
    }
    if (isFile && s.failed > 0) continue;
    const failure = {
      file: rel(data.file),
      name: isFile ? "(the file itself)" : data.name,
      lines: [...errorLines(data.details?.error), ...(isFile ? stderrTail.get(data.file) ?? [] : [])],
    };
    s.failed++;
    totals.failed++;
    s.failures.push(failure);
    failures.push(failure);
  }
  if (current !== undefined) yield fileLine(current);

  let out = "\n";
  if (failures.length) {
    out += red(`Failures (${failures.length}):\n`);
    for (const f of failures) out += `  ${f.file}: ${f.name}\n${f.lines.slice(0, 2).map((l) => `      ${l}\n`).join("")}`;
    out += "\n";
  }
  if (process.env.NR_TEST_TAP) out += dim(`Full TAP output: ${process.env.NR_TEST_TAP}\n`);
  const extra = totals.todo ? `, ${totals.todo} todo` : "";
  const line = `${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped${extra} (${filesDone} files, ${fmtSeconds(Date.now() - started)})`;
  out += (totals.failed ? red(line) : green(line)) + "\n";
  yield out;
}
