// `shell:` → the program, arguments and script file extension of a run step.

import { accessSync, constants, statSync } from "node:fs";
import { join } from "node:path";
import { splitArgs } from "../host/index.js";

export interface ShellPlan {
  file: string;
  /** Arguments with `{0}` already replaced by the script path. */
  args: string[];
  extension: string;
  scriptPath: string;
  /** Wraps the script text (pwsh error preferences); identity for most shells. */
  wrap(script: string): string;
}

export class ShellError extends Error {}

const BUILTIN: Record<string, string> = {
  bash: "bash --noprofile --norc -eo pipefail {0}",
  sh: "sh -e {0}",
  python: "python {0}",
  pwsh: `pwsh -command ". '{0}'"`,
  powershell: `powershell -command ". '{0}'"`,
};

const EXTENSIONS: Record<string, string> = {
  bash: ".sh",
  sh: ".sh",
  python: ".py",
  pwsh: ".ps1",
  powershell: ".ps1",
  cmd: ".cmd",
};

/** Looks a program up on a PATH where the job's processes run (the host, or a container). */
export type ProgramFinder = (name: string, pathEnv: string) => string | undefined;

/** The format string for `shell:` (undefined = GitHub's default for Linux). */
export function shellFormat(shell: string | undefined, pathEnv: string, find: ProgramFinder = findOnPath): string {
  const s = shell?.trim() ?? "";
  if (s === "") return find("bash", pathEnv) ? "bash -e {0}" : "sh -e {0}";
  const builtin = BUILTIN[s];
  if (builtin) return builtin;
  if (s === "cmd") throw new ShellError("The 'cmd' shell is only available on Windows runners.");
  if (!s.includes("{0}")) {
    throw new ShellError(
      `Invalid shell option '${s}'. Shell must be a valid built-in (bash, sh, cmd, powershell, pwsh) or a format string containing '{0}'`,
    );
  }
  return s;
}

export function planShell(
  shell: string | undefined,
  pathEnv: string,
  scriptPath: (ext: string) => string,
  find: ProgramFinder = findOnPath,
): ShellPlan {
  const format = shellFormat(shell, pathEnv, find);
  const words = splitArgs(format);
  const program = words[0];
  if (program === undefined) throw new ShellError(`Invalid shell option '${shell ?? ""}'.`);
  const base = program.split("/").pop() ?? program;
  const extension = EXTENSIONS[base] ?? "";
  const path = scriptPath(extension);
  const isPwsh = base === "pwsh" || base === "powershell";
  return {
    // An absolute path spares the exec a walk over PATH and shows which shell ran.
    file: find(program, pathEnv) ?? program,
    args: words.slice(1).map((w) => w.replaceAll("{0}", path)),
    extension,
    scriptPath: path,
    wrap: isPwsh
      ? (script) =>
          `$ErrorActionPreference = 'stop'\n${script}\nif ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }`
      : (script) => script,
  };
}

// Positive lookups are remembered (and re-checked with one stat): every step
// looks up its shell, and walking a long PATH costs a stat per entry.
const found = new Map<string, string>();

export function findOnPath(name: string, pathEnv: string): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  const key = `${name}\0${pathEnv}`;
  const known = found.get(key);
  if (known !== undefined && isExecutable(known)) return known;
  for (const dir of pathEnv.split(":")) {
    if (!dir) continue;
    const p = join(dir, name);
    if (isExecutable(p)) {
      if (found.size > 1000) found.clear();
      found.set(key, p);
      return p;
    }
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
