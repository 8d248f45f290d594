import path from "node:path";
import { stripUserinfo } from "./git.js";
import { ActionError, type ActionReference } from "./types.js";

/** Parses a step's `uses:` text; throws ActionError("bad-reference") when it is not understood. */
export function parseUses(uses: string): ActionReference {
  const text = uses.trim();
  const bad = (why: string): never => {
    throw new ActionError("bad-reference", `invalid action reference '${stripUserinfo(uses)}': ${why}`);
  };
  if (text === "") bad("empty");

  if (text.startsWith("docker://")) {
    const image = text.slice("docker://".length);
    if (image === "" || /\s/.test(image)) bad("expected docker://image[:tag]");
    return { kind: "docker", uses: text, image };
  }

  if (text === "." || text.startsWith("./")) {
    const normalised = path.posix.normalize(text);
    if (normalised === ".." || normalised.startsWith("../")) bad("a local action must stay inside the workspace");
    const rel = normalised === "." || normalised === "./" ? "" : normalised.replace(/\/+$/, "");
    return { kind: "local", uses: text, path: rel };
  }

  let baseUrl: string | undefined;
  let rest = text;
  const scheme = /^(https?):\/\//i.exec(text);
  if (scheme) {
    const afterScheme = text.slice(scheme[0].length);
    const slash = afterScheme.indexOf("/");
    if (slash <= 0) bad("expected https://host/owner/repo[/path]@ref");
    baseUrl = `${scheme[1]!.toLowerCase()}://${afterScheme.slice(0, slash)}`;
    rest = afterScheme.slice(slash + 1);
  }

  const at = rest.indexOf("@");
  if (at < 0) bad("missing '@ref' (expected owner/repo[/path]@ref)");
  const ref = rest.slice(at + 1);
  if (ref === "" || /\s/.test(ref)) bad("empty or malformed ref after '@'");
  const segments = rest.slice(0, at).split("/");
  if (segments.length < 2 || segments.some((s) => s === "" || s === "." || s === "..")) {
    bad("expected owner/repo[/path]@ref");
  }
  const [owner, repoRaw, ...sub] = segments as [string, string, ...string[]];
  const repo = repoRaw.replace(/\.git$/, "");
  if (repo === "") bad("empty repository name");
  const ref0: ActionReference = { kind: "remote", uses: text, owner, repo, path: sub.join("/"), ref };
  if (baseUrl !== undefined) ref0.baseUrl = baseUrl;
  return ref0;
}

/** "owner/repo[/path]@ref" form of a remote reference, for messages. */
export function describeReference(ref: ActionReference): string {
  switch (ref.kind) {
    case "local":
      return `./${ref.path}`;
    case "docker":
      return `docker://${ref.image}`;
    case "remote":
      return `${ref.owner}/${ref.repo}${ref.path ? `/${ref.path}` : ""}@${ref.ref}`;
  }
}
