// A sandbox that is another one except for what a wrapper changes. The
// wrappers (Nix GC roots, the crash marker) change a member or two; written
// member by member, each dropped the optional members it did not list (a
// daemon job's OOM report, its kill hints, its worker started ahead). Here
// every member not overridden, present or added later, is the inner one's.

import type { JobSandbox } from "./sandbox.js";

/** `inner` with the members of `over` (getters included) in place of its own. */
export function wrapSandbox(inner: JobSandbox, over: Partial<JobSandbox>): JobSandbox {
  return new Proxy(inner, {
    get(target, prop) {
      if (Object.prototype.hasOwnProperty.call(over, prop)) return Reflect.get(over, prop);
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
    has: (target, prop) => prop in over || prop in target,
  });
}
