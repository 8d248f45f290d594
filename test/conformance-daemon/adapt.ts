// Rewrites a case's workflow for the trip through Forgejo: a checkout step
// first (the daemon's workspace starts empty) and, where the expectation looks
// at step outputs, a probe step last that prints the `steps` context (Forgejo
// stores no step outputs, so the probe is how they become visible).

import { isMap, isSeq, parseDocument } from "yaml";

export const CHECKOUT_USES = "actions/checkout@v4";
export const PROBE_ID = "nrconf_probe";

// Markers are computed by the shell so that the script echoed in the step
// header never contains them.
const PROBE_SCRIPT = [
  'm="NRCONF-$((6 * 7))"',
  'printf "%s-WS=%s\\n" "$m" "$NRCONF_WS"',
  'printf "%s-BEGIN\\n" "$m"',
  "printf '%s\\n' \"$NRCONF_STEPS\"",
  'printf "%s-END\\n" "$m"',
  "",
].join("\n");

export interface AdaptedWorkflow {
  text: string;
  /** Payload step index offset of the original steps (1 with a checkout). */
  offset: number;
  /** Jobs (YAML ids) that got the probe as their last step. */
  probed: Set<string>;
}

export interface AdaptOptions {
  checkout: boolean;
  probeJobs: (jobId: string) => boolean;
  /** job id → step index → literal continue-on-error replacing an expression. */
  continueOnError?: Map<string, Map<number, boolean>>;
}

export function adaptWorkflow(text: string, opts: AdaptOptions): AdaptedWorkflow {
  const probed = new Set<string>();
  if (!opts.checkout && !opts.continueOnError?.size) {
    // Nothing to prepend: only rewrite when a probe is wanted, else keep the text as written.
    const doc0 = parseDocument(text);
    const jobs0 = doc0.get("jobs");
    const want = isMap(jobs0) && jobs0.items.some((p) => opts.probeJobs(String((p.key as { value?: unknown })?.value ?? p.key)));
    if (!want) return { text, offset: 0, probed };
  }
  const doc = parseDocument(text);
  const jobs = doc.get("jobs");
  if (!isMap(jobs)) return { text, offset: 0, probed };
  for (const pair of jobs.items) {
    const id = String((pair.key as { value?: unknown })?.value ?? pair.key);
    const job = pair.value;
    if (!isMap(job)) continue;
    const steps = job.get("steps");
    if (!isSeq(steps)) continue;
    for (const [i, value] of opts.continueOnError?.get(id) ?? []) {
      const step = steps.items[i];
      if (!isMap(step)) continue;
      if (value) step.set("continue-on-error", true);
      else step.delete("continue-on-error");
    }
    if (opts.checkout) steps.items.unshift(doc.createNode({ uses: CHECKOUT_USES }));
    if (opts.probeJobs(id)) {
      steps.items.push(
        doc.createNode({
          id: PROBE_ID,
          if: "always()",
          shell: "bash",
          "working-directory": "${{ runner.temp }}",
          env: { NRCONF_STEPS: "${{ toJSON(steps) }}", NRCONF_WS: "${{ github.workspace }}" },
          run: PROBE_SCRIPT,
        }),
      );
      probed.add(id);
    }
  }
  return { text: doc.toString({ lineWidth: 0 }), offset: opts.checkout ? 1 : 0, probed };
}

export interface ProbeResult {
  workspace?: string;
  steps?: Record<string, { outcome?: string; conclusion?: string; outputs?: Record<string, string> }>;
  error?: string;
}

/** Reads what the probe printed from a job's log rows. */
export function readProbe(rows: string[]): ProbeResult {
  const ws = rows.find((r) => r.startsWith("NRCONF-42-WS="));
  const begin = rows.lastIndexOf("NRCONF-42-BEGIN");
  const end = rows.lastIndexOf("NRCONF-42-END");
  const out: ProbeResult = {};
  if (ws !== undefined) out.workspace = ws.slice("NRCONF-42-WS=".length);
  if (begin < 0 || end < begin) return { ...out, error: "the probe step printed nothing" };
  try {
    out.steps = JSON.parse(rows.slice(begin + 1, end).join("\n")) as ProbeResult["steps"];
  } catch (e) {
    out.error = `probe output is not JSON: ${(e as Error).message}`;
  }
  return out;
}
