// `container.options` (config) and `options:` of a job container or service:
// the `docker run` flags that make sense for a job, turned into Engine API
// fields. Anything else is refused by name rather than silently dropped.

import { splitArgs } from "../host/index.js";

export interface RunOptions {
  env: Record<string, string>;
  binds: string[];
  capAdd: string[];
  capDrop: string[];
  extraHosts: string[];
  tmpfs: Record<string, string>;
  user?: string;
  hostname?: string;
  memory?: number;
  nanoCpus?: number;
  shmSize?: number;
  privileged?: boolean;
  init?: boolean;
  healthCmd?: string[];
  healthInterval?: number;
  healthTimeout?: number;
  healthRetries?: number;
  healthStartPeriod?: number;
}

export class ContainerOptionError extends Error {}

export function emptyRunOptions(): RunOptions {
  return { env: {}, binds: [], capAdd: [], capDrop: [], extraHosts: [], tmpfs: {} };
}

/** Parses an options string into `into` (later strings override earlier ones). */
export function parseRunOptions(text: string, into: RunOptions = emptyRunOptions(), where = "options"): RunOptions {
  const words = splitArgs(text);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    let flag = w;
    let value: string | undefined;
    const eq = w.indexOf("=");
    if (w.startsWith("--") && eq > 0) {
      flag = w.slice(0, eq);
      value = w.slice(eq + 1);
    }
    const next = (): string => {
      if (value !== undefined) return value;
      const v = words[++i];
      if (v === undefined) throw new ContainerOptionError(`${where}: ${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "-e":
      case "--env": {
        const kv = next();
        const k = kv.indexOf("=");
        if (k < 0) into.env[kv] = process.env[kv] ?? "";
        else into.env[kv.slice(0, k)] = kv.slice(k + 1);
        break;
      }
      case "-v":
      case "--volume":
        into.binds.push(next());
        break;
      case "--cap-add":
        into.capAdd.push(next());
        break;
      case "--cap-drop":
        into.capDrop.push(next());
        break;
      case "--add-host":
        into.extraHosts.push(next());
        break;
      case "--tmpfs": {
        const t = next();
        const c = t.indexOf(":");
        if (c < 0) into.tmpfs[t] = "";
        else into.tmpfs[t.slice(0, c)] = t.slice(c + 1);
        break;
      }
      case "-u":
      case "--user":
        into.user = next();
        break;
      case "-h":
      case "--hostname":
        into.hostname = next();
        break;
      case "-m":
      case "--memory":
        into.memory = parseBytes(next(), `${where}: ${flag}`);
        break;
      case "--shm-size":
        into.shmSize = parseBytes(next(), `${where}: ${flag}`);
        break;
      case "--cpus": {
        const v = Number(next());
        if (!Number.isFinite(v) || v <= 0) throw new ContainerOptionError(`${where}: --cpus needs a positive number`);
        into.nanoCpus = Math.round(v * 1e9);
        break;
      }
      case "--privileged":
        into.privileged = value === undefined ? true : value !== "false";
        break;
      case "--init":
        into.init = true;
        break;
      case "--health-cmd":
        into.healthCmd = ["CMD-SHELL", next()];
        break;
      case "--health-interval":
        into.healthInterval = parseDurationNs(next(), `${where}: ${flag}`);
        break;
      case "--health-timeout":
        into.healthTimeout = parseDurationNs(next(), `${where}: ${flag}`);
        break;
      case "--health-start-period":
        into.healthStartPeriod = parseDurationNs(next(), `${where}: ${flag}`);
        break;
      case "--health-retries":
        into.healthRetries = Number.parseInt(next(), 10);
        break;
      default:
        throw new ContainerOptionError(`${where}: unsupported container option ${JSON.stringify(w)}`);
    }
  }
  return into;
}

function parseBytes(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)([bkmg]?)b?$/i.exec(text.trim());
  if (!m) throw new ContainerOptionError(`${what}: ${JSON.stringify(text)} is not a size`);
  const mult = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as "" | "b" | "k" | "m" | "g"];
  return Math.round(Number(m[1]) * mult);
}

function parseDurationNs(text: string, what: string): number {
  let total = 0;
  let rest = text.trim();
  const unit: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  if (/^\d+$/.test(rest)) return Number(rest) * 1e9;
  while (rest !== "") {
    const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/.exec(rest);
    if (!m) throw new ContainerOptionError(`${what}: ${JSON.stringify(text)} is not a duration`);
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

/**
 * Whether a volume (`source:target[:mode]` or a named volume) is allowed by
 * `container.valid_volumes` (globs over the source: a host path or a volume name).
 */
export function volumeAllowed(volume: string, validVolumes: readonly string[]): boolean {
  const source = volume.split(":")[0]!;
  if (!volume.includes(":")) return true; // an anonymous volume: only inside the container
  return validVolumes.some((g) => globRegExp(g).test(source));
}

export function checkVolumes(volumes: readonly string[], validVolumes: readonly string[], where: string): void {
  for (const v of volumes) {
    if (!volumeAllowed(v, validVolumes)) {
      throw new ContainerOptionError(
        `${where}: volume ${JSON.stringify(v)} is not allowed by container.valid_volumes ` +
          `(${validVolumes.length === 0 ? "empty: no volume may be mounted" : validVolumes.map((g) => JSON.stringify(g)).join(", ")})`,
      );
    }
  }
}

function globRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
