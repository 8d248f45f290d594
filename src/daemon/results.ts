import type { Conclusion } from "../engine/events.js";
import { Result } from "../protocol/index.js";

export function toResult(c: Conclusion): Result {
  switch (c) {
    case "success": return Result.SUCCESS;
    case "failure": return Result.FAILURE;
    case "cancelled": return Result.CANCELLED;
    case "skipped": return Result.SKIPPED;
  }
}

/** A needed job's result as the engine expects it; unspecified counts as failure. */
export function fromResult(r: Result): Conclusion {
  switch (r) {
    case Result.SUCCESS: return "success";
    case Result.CANCELLED: return "cancelled";
    case Result.SKIPPED: return "skipped";
    default: return "failure";
  }
}
