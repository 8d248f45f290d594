// An idle daemon: resident memory and requests per minute to Forgejo, at the
// default fetch_interval (2 s) and report settings.
//
// Runs the bundled CLI as a separate process against the emulator on
// 127.0.0.1. Prints figures, asserts nothing.
//   npx tsx bench/idle-daemon.ts [seconds]

import { readFileSync } from "node:fs";
import { bundleCli, setupEnv, startCli, waitUntil } from "../test/daemon/harness.js";

const SECONDS = Number(process.argv[2] ?? 60);

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

const bundle = await bundleCli();
const env = await setupEnv();
const cli = await startCli(env, ["daemon"], { fetchInterval: "2s", reportInterval: "1s" }, bundle);
try {
  await waitUntil(() => env.emu.requests().some((r) => r.rpc.endsWith("FetchTask")), 30_000, "first FetchTask");
  await new Promise((r) => setTimeout(r, 5000)); // warm-up
  const pid = cli.child.pid!;
  const from = Date.now();
  const before = env.emu.requests().length;
  const samples: number[] = [];
  while (Date.now() - from < SECONDS * 1000) {
    samples.push(rssKiB(pid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const minutes = (Date.now() - from) / 60_000;
  const reqs = env.emu.requests().slice(before);
  const byRpc = new Map<string, number>();
  for (const r of reqs) byRpc.set(r.rpc, (byRpc.get(r.rpc) ?? 0) + 1);
  console.log(`idle daemon (bundled CLI, node ${process.version}), ${SECONDS} s after a 5 s warm-up:`);
  console.log(`  RSS: start ${(samples[0]! / 1024).toFixed(1)} MiB, end ${(samples.at(-1)! / 1024).toFixed(1)} MiB, max ${(Math.max(...samples) / 1024).toFixed(1)} MiB`);
  console.log(`  requests/minute: ${(reqs.length / minutes).toFixed(1)} (${[...byRpc].map(([k, v]) => `${k.split("/").pop()} ${v}`).join(", ")})`);
} finally {
  cli.child.kill("SIGTERM");
  await cli.exited;
  await env.close();
}
