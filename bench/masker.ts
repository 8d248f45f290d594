// The masker alone: time to mask 100 MB of log lines with 1, 100 and 10,000
// registered secrets (each with its encodings), and the time to register
// them one by one with a masked line after each (as `::add-mask::` does). The
// first 100 MB includes the one deferred merge of the registration's automata;
// the next 100 MB is the steady scan.
// Wall and CPU time (user + system of this process) are printed: on a shared
// machine the CPU figure is the steadier one.
//   npx tsx bench/masker.ts [megabytes=100]

import { randomBytes } from "node:crypto";
import { Masker } from "../src/engine/masker.js";

const MB = Number(process.argv[2] ?? 100);

function lines(): string[] {
  // Log-like text: words, hex, base64, paths; one line in 1000 holds secret 0.
  const out: string[] = [];
  for (let i = 0; i < 2000; i++) {
    out.push(
      `${i} building /nix/store/${randomBytes(16).toString("hex")}-pkg: ok ${randomBytes(24).toString("base64")} the quick brown fox`,
    );
  }
  return out;
}

function run(count: number, sample: string[]): void {
  const m = new Masker();
  // One secret that really appears (once per 1000 lines), registered first.
  const secret = "SECRET-ZERO-VALUE";
  m.add(secret);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 1; i < count; i++) {
    m.add(randomBytes(12).toString("base64url"));
    m.mask("a line between two masks");
  }
  const addMs = performance.now() - t0;
  const addCpu = process.cpuUsage(c0);
  const addCpuMs = (addCpu.user + addCpu.system) / 1000;
  const text = sample.map((l, i) => (i % 1000 === 7 ? `${l} ${secret}` : l));
  const target = MB * 1024 * 1024;
  const pass = () => {
    let bytes = 0;
    let hidden = 0;
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    for (let k = 0; bytes < target; k++) {
      const line = text[k % text.length]!;
      bytes += line.length + 1;
      if (m.mask(line).length !== line.length) hidden++;
    }
    const ms = performance.now() - t1;
    const cpu = process.cpuUsage(c1);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    return `${ms.toFixed(0).padStart(6)} ms (${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s; CPU ${cpuMs.toFixed(0)} ms, ${(bytes / 1e6 / (cpuMs / 1000)).toFixed(0)} MB/s; ${hidden} lines masked)`;
  };
  // The first pass pays the deferred merge of the registration's automata into one (see masker.ts); the second is
  // the steady scan.
  const first = pass();
  const steady = pass();
  console.log(
    `masks=${String(count).padStart(6)}  register (a masked line after each): ${addMs.toFixed(0).padStart(6)} ms (CPU ${addCpuMs.toFixed(0)})\n` +
      `    mask the first ${MB} MB:  ${first}\n    mask the next ${MB} MB:   ${steady}`,
  );
}

const sample = lines();
for (const count of [1, 100, 10_000]) run(count, sample);
