// exec runs jobs in the user's working copy. actions/checkout there would
// clean, reset or empty it, so a checkout of the repository being run is not
// run (forgejo-runner exec does the same), and a checkout of another
// repository into the workspace root is refused.

import { parseUses } from "../actions/index.js";
import type { StepModel } from "../workflow/model.js";
import { evalString } from "./evaluate.js";

export type CheckoutDecision = { kind: "skip"; note: string } | { kind: "refuse"; message: string };

export function selfCheckoutDecision(step: StepModel, contexts: Record<string, unknown>, workspace: string): CheckoutDecision | undefined {
  if (step.run !== undefined || step.uses === undefined) return undefined;
  let owner: string;
  let repo: string;
  try {
    const ref = parseUses(step.uses);
    if (ref.kind !== "remote") return undefined;
    owner = ref.owner;
    repo = ref.repo;
  } catch {
    return undefined;
  }
  if (owner !== "actions" || repo !== "checkout") return undefined;
  const github = (contexts["github"] ?? {}) as Record<string, unknown>;
  const input = (name: string): string => {
    const raw = step.with?.[name];
    return raw === undefined || raw === null ? "" : evalString(raw, contexts).trim();
  };
  const self = String(github["repository"] ?? "");
  const wanted = input("repository");
  if (wanted === "" || wanted.toLowerCase() === self.toLowerCase()) {
    const ref = input("ref");
    const current = [github["ref"], github["ref_name"], github["sha"]].map((v) => String(v ?? ""));
    const other = ref !== "" && !current.includes(ref) ? ` (asked for '${ref}': the working copy is used as it is)` : "";
    return {
      kind: "skip",
      note: `Skipping ${step.uses}: exec runs in the working copy ${workspace}${other}; --no-skip-checkout runs it`,
    };
  }
  const dest = input("path").replace(/\/+$/, "");
  if (dest === "" || dest === ".") {
    return {
      kind: "refuse",
      message: `${step.uses} of ${wanted} into the workspace root would replace the working copy ${workspace}; give it a 'path:' inside the workspace, or run exec with --no-skip-checkout`,
    };
  }
  return undefined;
}
