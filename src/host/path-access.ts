// "Could this uid/gid read that path?" from mode bits along the path, for the
// startup self-check and to skip hidden paths a job could not reach anyway.
// POSIX ACLs are not consulted: an ACL can only add access for named users,
// which the self-check reports as a caveat in the docs.

import { stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Identity } from "./cgroup/types.js";

function allowed(st: { uid: number; gid: number; mode: number }, who: Identity, bit: 4 | 1): boolean {
  if (who.uid === 0) return true;
  if (st.uid === who.uid) return ((st.mode >> 6) & bit) !== 0;
  if (st.gid === who.gid) return ((st.mode >> 3) & bit) !== 0;
  return (st.mode & bit) !== 0;
}

/** True when `who` can search every directory above `path` and read `path` itself. */
export async function readableBy(path: string, who: Identity): Promise<boolean> {
  const abs = resolve(path);
  const chain: string[] = [];
  for (let p = dirname(abs); ; p = dirname(p)) {
    chain.unshift(p);
    if (p === "/") break;
  }
  try {
    for (const dir of chain) if (!allowed(await stat(dir), who, 1)) return false;
    return allowed(await stat(abs), who, 4);
  } catch {
    return false;
  }
}

/** True when anyone on the host can read `path` (other-readable along the whole path). */
export function worldReadable(path: string): Promise<boolean> {
  return readableBy(path, { uid: 2 ** 31 - 2, gid: 2 ** 31 - 2 });
}

/** True when `who` can search (traverse) `dir` and every directory above it. */
export async function searchableBy(dir: string, who: Identity): Promise<boolean> {
  const abs = resolve(dir);
  try {
    for (let p = abs; ; p = dirname(p)) {
      if (!allowed(await stat(p), who, 1)) return false;
      if (p === "/") return true;
    }
  } catch {
    return false;
  }
}
