import { lstat, readdir, readlink } from "node:fs/promises";
import { isAbsolute, join, resolve, sep } from "node:path";

export const STORE_DIR = "/nix/store";

/** `/nix/store/<hash>-<name>[/sub/path]` → `/nix/store/<hash>-<name>`; anything else → undefined. */
export function toStorePath(p: string, storeDir = STORE_DIR): string | undefined {
  const prefix = storeDir.endsWith("/") ? storeDir : storeDir + "/";
  if (!p.startsWith(prefix)) return undefined;
  const name = p.slice(prefix.length).split("/")[0];
  if (!name || !/^[0-9a-z]{32}-[A-Za-z0-9+\-._?=]+$/.test(name)) return undefined;
  return prefix + name;
}

export function isInside(child: string, parent: string): boolean {
  const c = resolve(child);
  const p = resolve(parent);
  return c === p || c.startsWith(p.endsWith(sep) ? p : p + sep);
}

async function readLinkAbs(link: string): Promise<string | undefined> {
  try {
    const t = await readlink(link);
    return isAbsolute(t) ? t : resolve(join(link, ".."), t);
  } catch {
    return undefined;
  }
}

export interface FoundRoot {
  storePath: string;
  /** Where it was found: the symlink in the workspace, or "declared". */
  from: string;
}

/**
 * Roots the nix daemon registered for links inside the workspace
 * (`nix build` records `<gcroots>/auto/<hash> -> <workspace>/result`).
 */
export async function rootsFromAutoDir(autoDir: string, workspace: string): Promise<FoundRoot[]> {
  let names: string[];
  try {
    names = await readdir(autoDir);
  } catch {
    return [];
  }
  const found: FoundRoot[] = [];
  for (const n of names) {
    const target = await readLinkAbs(join(autoDir, n));
    if (!target || !isInside(target, workspace)) continue;
    const storeTarget = await readLinkAbs(target);
    const sp = storeTarget ? toStorePath(storeTarget) : undefined;
    if (sp) found.push({ storePath: sp, from: target });
  }
  return found;
}

/** `result`, `result-1`, `result-dev`... symlinks at the top of the workspace. */
export async function resultLinks(workspace: string): Promise<FoundRoot[]> {
  let names: string[];
  try {
    names = await readdir(workspace);
  } catch {
    return [];
  }
  const found: FoundRoot[] = [];
  for (const n of names) {
    if (n !== "result" && !n.startsWith("result-")) continue;
    const p = join(workspace, n);
    const st = await lstat(p).catch(() => undefined);
    if (!st?.isSymbolicLink()) continue;
    const t = await readLinkAbs(p);
    const sp = t ? toStorePath(t) : undefined;
    if (sp) found.push({ storePath: sp, from: p });
  }
  return found;
}

/** Lines of a declared-roots file: store paths (or paths inside them), blank lines and `#` comments ignored. */
export function parseDeclaredRoots(text: string): { roots: FoundRoot[]; invalid: string[] } {
  const roots: FoundRoot[] = [];
  const invalid: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const sp = toStorePath(line);
    if (sp) roots.push({ storePath: sp, from: "declared" });
    else invalid.push(line);
  }
  return { roots, invalid };
}
