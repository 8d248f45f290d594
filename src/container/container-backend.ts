// A HostBackend whose job processes run inside a job container. The job's
// directories are created on the host (as for host jobs) and bind-mounted at
// the same absolute paths, so the engine's scripts, file commands and
// workspace paths are valid on both sides; every process is an `exec` in the
// container. Services share a per-job network and are reached by their key.

import { lstat } from "node:fs/promises";
import { Readable } from "node:stream";
import type Docker from "dockerode";
import type { ExitStatus, HostBackend, JobDirs, JobSandbox, PrepareJobOptions, SpawnHandlers, SpawnSpec } from "../host/sandbox.js";
import { createJobDirs, removeJobDirs, sanitizeJobKey, jobBaseEnv, randomHex } from "../host/index.js";
import {
  LABEL_RUNNER, LABEL_TASK, containerLogs, demux, ensureImage, execCapture, execIn, messageOf, type Engine, type PullAuth,
} from "./engine-api.js";
import { checkVolumes, emptyRunOptions, parseRunOptions, type RunOptions } from "./container-options.js";
import { removeTask } from "./cleanup.js";

export interface ContainerRuntime {
  engine: Engine;
  /** Identifies this runner's objects on the daemon (start-up sweep). */
  runnerId: string;
  /** Host directory for job roots. */
  workdirParent: string;
  /** container.network: "" = a network per job. */
  network: string;
  privileged: boolean;
  /** container.options */
  options: string;
  validVolumes: string[];
  forcePull: boolean;
  /** Rebuild docker actions' images even when present (container.force_rebuild). */
  forceRebuild?: boolean;
  /** Host paths mounted read-only at the same path (the fetched-action cache). */
  readOnlyPaths: string[];
  /** Docker socket to mount at /var/run/docker.sock (only when configured). */
  mountSocket?: string;
  /** Extra host entries for every container (e.g. the cache host). */
  extraHosts?: string[];
  /** How long to wait for services to become healthy. */
  serviceTimeoutMs?: number;
}

export interface ContainerSpec {
  image: string;
  env: Record<string, string>;
  ports: string[];
  volumes: string[];
  options: string;
  credentials?: { username: string; password: string };
}

export interface JobContainerPlan {
  job: ContainerSpec;
  services: Record<string, ContainerSpec>;
}

/** Programs the engine looks for; probed once per job container. */
const PROBED = ["bash", "sh", "node", "python3", "python", "pwsh", "powershell"];
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** In the environment of every step process: which step it belongs to (for cancelling one step). */
const PROCESS_MARK = "NATIVE_RUNNER_STEP";

export class ContainerBackend implements HostBackend {
  readonly name = "container";
  constructor(
    private readonly rt: ContainerRuntime,
    private readonly plan: JobContainerPlan,
    /** Rows for the job's log (pulls, services). */
    private readonly jobLog: (line: string) => void,
  ) {}

  /** `exec`: the job's directories are made here, and removed with the container. */
  async prepareJob(opts: PrepareJobOptions): Promise<JobSandbox> {
    const dirs = await createJobDirs({
      parent: this.rt.workdirParent,
      jobKey: opts.jobKey,
      ...(opts.workspaceDir !== undefined ? { workspaceDir: opts.workspaceDir } : {}),
    });
    return this.start(dirs, opts.jobKey, { removeDirs: true });
  }

  /**
   * The daemon: the container for a job whose directories a host sandbox
   * made (and removes) and whose engine runs in a worker. Nothing here opens a
   * path inside them: what the job left is handed to `owner` from inside the
   * container, so the host sandbox can remove it as the job's uid.
   */
  prepareIn(dirs: JobDirs, jobKey: string, owner?: { uid: number; gid: number }): Promise<ContainerSandbox> {
    return this.start(dirs, jobKey, { removeDirs: false, ...(owner ? { owner } : {}) });
  }

  private async start(dirs: JobDirs, jobKey: string, o: { removeDirs: boolean; owner?: { uid: number; gid: number } }): Promise<ContainerSandbox> {
    const { rt, plan } = this;
    // Everything is checked before anything is created.
    const jobOpts = parseRunOptions(rt.options, emptyRunOptions(), "container.options");
    parseRunOptions(plan.job.options, jobOpts, "container.options of the job");
    if (jobOpts.privileged && !rt.privileged) {
      throw new Error("container options: --privileged is not allowed (container.privileged is false)");
    }
    checkVolumes([...plan.job.volumes, ...jobOpts.binds], rt.validVolumes, "job container");
    const serviceOpts = new Map<string, RunOptions>();
    for (const [key, svc] of Object.entries(plan.services)) {
      const so = parseRunOptions(rt.options, emptyRunOptions(), "container.options");
      parseRunOptions(svc.options, so, `services.${key}.options`);
      if (so.privileged && !rt.privileged) throw new Error(`services.${key}: --privileged is not allowed (container.privileged is false)`);
      checkVolumes([...svc.volumes, ...so.binds], rt.validVolumes, `services.${key}`);
      serviceOpts.set(key, so);
    }

    const task = `${sanitizeJobKey(jobKey)}-${randomHex(4)}`;
    const labels = { [LABEL_RUNNER]: rt.runnerId, [LABEL_TASK]: task };
    const owner = o.owner ?? runnerOwner();
    const sandbox = new ContainerSandbox(rt, task, dirs, {
      removeDirs: o.removeDirs,
      ...(owner ? { owner, rootOwner: await lstat(dirs.root).then((st) => ({ uid: st.uid, gid: st.gid })) } : {}),
    });
    try {
      let network = rt.network;
      if (network === "") {
        network = `native-runner-${task}`;
        await rt.engine.createNetwork({ Name: network, Labels: labels, CheckDuplicate: true });
      }
      const pulls = [plan.job, ...Object.values(plan.services)];
      for (const spec of pulls) {
        await ensureImage(rt.engine, spec.image, {
          force: rt.forcePull,
          ...(spec.credentials ? { auth: authFor(spec.image, spec.credentials) } : {}),
          log: this.jobLog,
        });
      }
      const services = Object.entries(plan.services);
      const started: Array<{ key: string; container: Docker.Container }> = [];
      for (const [key, svc] of services) {
        const so = serviceOpts.get(key)!;
        this.jobLog(`Starting service ${key} (${svc.image})`);
        const c = await rt.engine.createContainer({
          name: `${network}-${sanitizeJobKey(key)}`.slice(0, 120),
          Image: svc.image,
          Env: envList({ ...so.env, ...svc.env }),
          Labels: labels,
          ...(so.user ? { User: so.user } : {}),
          ...healthConfig(so),
          ExposedPorts: exposed(svc.ports),
          HostConfig: {
            ...hostConfig(rt, so, network),
            Binds: [...svc.volumes, ...so.binds],
            PortBindings: portBindings(svc.ports),
          },
          NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [key] } } },
        });
        await c.start();
        started.push({ key, container: c });
      }
      await waitForServices(started, rt.serviceTimeoutMs ?? 120_000, this.jobLog);

      const image = await rt.engine.getImage(plan.job.image).inspect();
      const imagePath = (image.Config?.Env ?? []).find((e) => e.startsWith("PATH="))?.slice(5) || DEFAULT_PATH;
      const binds = [`${dirs.root}:${dirs.root}`];
      if (!dirs.workspace.startsWith(dirs.root + "/")) binds.push(`${dirs.workspace}:${dirs.workspace}`);
      for (const p of rt.readOnlyPaths) binds.push(`${p}:${p}:ro`);
      if (rt.mountSocket) binds.push(`${rt.mountSocket}:/var/run/docker.sock`);
      binds.push(...plan.job.volumes, ...jobOpts.binds);
      const container = await rt.engine.createContainer({
        name: `native-runner-${task}`,
        Image: plan.job.image,
        Entrypoint: ["tail", "-f", "/dev/null"],
        Cmd: [],
        WorkingDir: dirs.workspace,
        Env: envList({ ...jobOpts.env, ...plan.job.env }),
        Labels: labels,
        ...(jobOpts.user ? { User: jobOpts.user } : {}),
        ...(jobOpts.hostname ? { Hostname: jobOpts.hostname } : {}),
        ExposedPorts: exposed(plan.job.ports),
        HostConfig: { ...hostConfig(rt, jobOpts, network), Binds: binds, PortBindings: portBindings(plan.job.ports) },
      });
      await container.start();
      await sandbox.attach(container, jobBaseEnv({ path: imagePath, home: dirs.home, temp: dirs.temp }));
      sandbox.actionSetup = { network, binds: binds.filter((b) => !rt.mountSocket || !b.startsWith(`${rt.mountSocket}:`)), log: this.jobLog };
      return sandbox;
    } catch (err) {
      await sandbox.dispose().catch(() => {});
      throw err;
    }
  }
}

/** Files a container's root made in the job's directories go to this owner at the end (a non-root runner: itself). */
function runnerOwner(): { uid: number; gid: number } | undefined {
  const uid = process.getuid?.() ?? 0;
  return uid === 0 ? undefined : { uid, gid: process.getgid?.() ?? 0 };
}

interface DirsPolicy {
  removeDirs: boolean;
  owner?: { uid: number; gid: number };
  /** The job root's own owner, given back after the recursive chown. */
  rootOwner?: { uid: number; gid: number };
}

export class ContainerSandbox implements JobSandbox {
  baseEnv: Record<string, string> = {};
  readonly runsActionImages = true;
  /** The job network, binds and log; set when the job container starts. */
  actionSetup: { network: string; binds: string[]; log: (line: string) => void } | undefined;
  private built = new Map<string, Promise<void>>();
  private container: Docker.Container | undefined;
  private programs = new Map<string, string>();
  private disposing: Promise<void> | undefined;
  private seq = 0;

  constructor(
    private readonly rt: ContainerRuntime,
    private readonly task: string,
    readonly dirs: JobDirs,
    private readonly policy: DirsPolicy,
  ) {}

  async attach(container: Docker.Container, baseEnv: Record<string, string>): Promise<void> {
    this.container = container;
    this.baseEnv = baseEnv;
    const probe = await execCapture(container, [
      "sh", "-c", `for p in ${PROBED.join(" ")}; do v=$(command -v "$p") && echo "$p=$v"; done; true`,
    ]);
    for (const line of probe.out.split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) this.programs.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }

  findProgram(name: string): string | undefined {
    if (name.includes("/")) return name;
    return this.programs.get(name);
  }

  /** The programs found in the job container (sent to a worker, which has no container to look in). */
  programList(): Record<string, string> {
    return Object.fromEntries(this.programs);
  }

  async spawn(spec: SpawnSpec, handlers: SpawnHandlers, signal: AbortSignal): Promise<ExitStatus> {
    const container = this.container;
    if (!container || this.disposing) throw new Error("the job container is not running");
    if (signal.aborted) return { code: null, signal: "SIGKILL" };
    if (spec.image) return this.runActionImage(spec, handlers, signal);
    // Run directly, not through a shell: dash and busybox sh drop variables whose names are not shell
    // identifiers (INPUT_RESTORE-KEYS). The mark, inherited by its children, lets a cancel kill this step only.
    const mark = `${PROCESS_MARK}=${this.task}-${++this.seq}`;
    let killed = false;
    const onAbort = () => {
      killed = true;
      void this.killMarked(mark);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const code = await execIn(container, {
        cmd: [spec.file, ...spec.args],
        env: { ...spec.env, [PROCESS_MARK]: mark.slice(PROCESS_MARK.length + 1) },
        workingDir: spec.cwd,
        ...(spec.stdin !== undefined ? { stdin: spec.stdin } : {}),
        onStdout: (c) => handlers.onStdout(c),
        onStderr: (c) => handlers.onStderr(c),
        ...(handlers.wait ? { wait: () => handlers.wait!() } : {}),
      });
      if (killed) return { code: null, signal: "SIGKILL" };
      return { code, signal: null };
    } catch (err) {
      if (killed) return { code: null, signal: "SIGKILL" };
      throw new Error(`exec in the job container failed: ${messageOf(err)}`);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** A docker action: a container of its image on the job network, with the job's directories. */
  private async runActionImage(spec: SpawnSpec, handlers: SpawnHandlers, signal: AbortSignal): Promise<ExitStatus> {
    const img = spec.image!;
    const setup = this.actionSetup!;
    let image = img.image;
    if (img.build) {
      const b = img.build;
      let p = this.built.get(b.tag);
      if (!p) {
        p = buildImage(this.rt, b, setup.log);
        this.built.set(b.tag, p);
      }
      await p;
      image = b.tag;
    } else if (image) {
      await ensureImage(this.rt.engine, image, { force: this.rt.forcePull, log: setup.log });
    }
    if (!image) throw new Error("a docker action without an image");
    const { PATH: _path, ...env } = spec.env;
    const container = await this.rt.engine.createContainer({
      name: `native-runner-${this.task}-action-${++this.seq}`,
      Image: image,
      ...(img.entrypoint ? { Entrypoint: splitWords(img.entrypoint) } : {}),
      ...(spec.file && !img.entrypoint ? { Entrypoint: [spec.file] } : {}),
      Cmd: spec.args,
      Env: envList(env),
      WorkingDir: spec.cwd,
      Labels: { [LABEL_RUNNER]: this.rt.runnerId, [LABEL_TASK]: this.task },
      HostConfig: { NetworkMode: setup.network, Binds: setup.binds, Privileged: false },
    });
    const stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as NodeJS.ReadableStream;
    demux(container, stream, (c) => handlers.onStdout(c), (c) => handlers.onStderr(c), handlers.wait ? () => handlers.wait!() : undefined);
    const onAbort = () => void container.kill({ signal: "SIGKILL" }).catch(() => {});
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await container.start();
      const res = (await container.wait()) as { StatusCode?: number };
      await new Promise((r) => setTimeout(r, 50));
      if (signal.aborted) return { code: null, signal: "SIGKILL" };
      return { code: typeof res.StatusCode === "number" ? res.StatusCode : null, signal: null };
    } finally {
      signal.removeEventListener("abort", onAbort);
      await container.remove({ force: true, v: true }).catch(() => {});
    }
  }

  /** Kills every process of the container whose environment carries `mark` (a step and what it started). */
  private async killMarked(mark: string): Promise<void> {
    if (!this.container) return;
    const script =
      'for _ in 1 2 3; do for d in /proc/[0-9]*; do [ "$d" = /proc/$$ ] && continue; ' +
      'tr "\\0" "\\n" < "$d/environ" 2>/dev/null | grep -qxF "$0" && kill -9 "${d#/proc/}" 2>/dev/null; done; done; true';
    await execCapture(this.container, ["sh", "-c", script, mark]).catch(() => {});
  }

  async killAll(): Promise<void> {
    if (!this.container) return;
    // From inside, -1 reaches every process but pid 1 (the idle entrypoint) and the killer.
    await execCapture(this.container, ["sh", "-c", "kill -9 -1 2>/dev/null; true"]).catch(() => {});
  }

  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      const { owner, rootOwner } = this.policy;
      if (this.container) await this.killAll();
      if (this.container && owner) {
        // Files the job made as the container's root go to the owner (the job's uid, or a non-root runner), so
        // they can be deleted. This runs in the container: its links point into the container, not the host.
        const paths = [this.dirs.root, ...(this.dirs.workspace.startsWith(this.dirs.root + "/") ? [] : [this.dirs.workspace])];
        const back = rootOwner ? ` && chown -h ${rootOwner.uid}:${rootOwner.gid} "$0"` : "";
        await execCapture(this.container, ["sh", "-c", `chown -hR ${owner.uid}:${owner.gid} "$@"${back}`, ...paths]).catch(() => {});
      }
      const problems: string[] = [];
      await removeTask(this.rt.engine, this.rt.runnerId, this.task).catch((err: Error) => problems.push(err.message));
      if (this.policy.removeDirs) await removeJobDirs(this.dirs).catch((err: Error) => problems.push(err.message));
      if (problems.length > 0) throw new Error(problems.join("; "));
    })();
    return this.disposing;
  }
}

function hostConfig(rt: ContainerRuntime, o: RunOptions, network: string): Docker.HostConfig {
  return {
    NetworkMode: network,
    Privileged: rt.privileged && o.privileged === true,
    ...(o.capAdd.length ? { CapAdd: o.capAdd } : {}),
    ...(o.capDrop.length ? { CapDrop: o.capDrop } : {}),
    ExtraHosts: [...(rt.extraHosts ?? []), ...o.extraHosts],
    ...(Object.keys(o.tmpfs).length ? { Tmpfs: o.tmpfs } : {}),
    ...(o.memory ? { Memory: o.memory } : {}),
    ...(o.nanoCpus ? { NanoCpus: o.nanoCpus } : {}),
    ...(o.shmSize ? { ShmSize: o.shmSize } : {}),
    ...(o.init ? { Init: true } : {}),
  };
}

function healthConfig(o: RunOptions): { Healthcheck?: Docker.ContainerCreateOptions["Healthcheck"] } {
  if (!o.healthCmd) return {};
  return {
    Healthcheck: {
      Test: o.healthCmd,
      ...(o.healthInterval ? { Interval: o.healthInterval } : {}),
      ...(o.healthTimeout ? { Timeout: o.healthTimeout } : {}),
      ...(o.healthRetries ? { Retries: o.healthRetries } : {}),
      ...(o.healthStartPeriod ? { StartPeriod: o.healthStartPeriod } : {}),
    },
  };
}

/**
 * Waits until every service with a health check is healthy; a failing one's
 * logs go to the job log. The runner runs the check itself (an exec in the
 * service) as well as reading the daemon's status: Podman without systemd
 * never runs health checks on its own.
 */
async function waitForServices(
  services: Array<{ key: string; container: Docker.Container }>,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const { key, container } of services) {
    const first = await container.inspect();
    const hc = first.Config.Healthcheck;
    const test = hc?.Test ?? [];
    const cmd = test[0] === "CMD-SHELL" ? ["sh", "-c", test.slice(1).join(" ")] : test[0] === "CMD" ? test.slice(1) : [];
    const intervalMs = Math.max(200, Math.min(5000, (hc?.Interval ?? 1e9) / 1e6));
    const retries = hc?.Retries && hc.Retries > 0 ? hc.Retries : 3;
    let failures = 0;
    for (;;) {
      const info = await container.inspect();
      let why: string | undefined;
      if (!info.State.Running) why = `exited with code ${info.State.ExitCode}`;
      else if (cmd.length === 0 || info.State.Health?.Status === "healthy") break;
      else if (info.State.Health?.Status === "unhealthy") why = "is unhealthy";
      else {
        const r = await execCapture(container, cmd).catch((err: Error) => ({ code: -1, out: err.message }));
        if (r.code === 0) {
          log(`Service ${key} is healthy`);
          break;
        }
        if (++failures >= retries) why = "is unhealthy";
        else if (Date.now() > deadline) why = "did not become healthy in time";
      }
      if (why) {
        log(`Service ${key} ${why}; its log:`);
        for (const line of await containerLogs(container).catch(() => [] as string[])) log(`  ${line}`);
        throw new Error(`service ${key} ${why}`);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

/**
 * Builds a docker action's image from its Dockerfile; a tag that exists is reused unless force_rebuild.
 * The context is a directory (`exec`), or a tar of it made by a container job's worker.
 */
async function buildImage(rt: ContainerRuntime, b: { context: string | Uint8Array; dockerfile: string; tag: string }, log: (line: string) => void): Promise<void> {
  if (!rt.forceRebuild) {
    try {
      await rt.engine.getImage(b.tag).inspect();
      return;
    } catch {
      // not built yet
    }
  }
  log(`Building image ${b.tag} from ${b.dockerfile}`);
  const ctx = b.context;
  const rel = typeof ctx === "string" && b.dockerfile.startsWith(ctx + "/") ? b.dockerfile.slice(ctx.length + 1) : b.dockerfile;
  const opts = { t: b.tag, dockerfile: rel, networkmode: "none" } as Docker.ImageBuildOptions;
  const stream = typeof ctx === "string"
    ? await rt.engine.buildImage({ context: ctx, src: ["."] }, opts)
    : await rt.engine.buildImage(Readable.from([Buffer.from(ctx)]), opts);
  await new Promise<void>((resolve, reject) => {
    rt.engine.modem.followProgress(
      stream,
      (err: Error | null, out: Array<{ error?: string }>) => {
        const failed = err ?? out.find((o) => o.error);
        if (failed) reject(new Error(`building ${b.tag} failed: ${failed instanceof Error ? failed.message : failed.error}`));
        else resolve();
      },
      (ev: { stream?: string }) => {
        for (const line of (ev.stream ?? "").split("\n")) if (line.trim() !== "") log(line);
      },
    );
  });
}

function splitWords(s: string): string[] {
  return s.split(/\s+/).filter((w) => w !== "");
}

function envList(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** `ports:` entries: "8080", "8080:80", "127.0.0.1:8080:80", with an optional /udp. */
function parsePort(p: string): { container: string; hostIp?: string; hostPort?: string } {
  const [spec, proto = "tcp"] = p.split("/");
  const parts = spec!.split(":");
  const container = `${parts.at(-1)}/${proto}`;
  if (parts.length === 1) return { container };
  if (parts.length === 2) return { container, hostPort: parts[0]! };
  return { container, hostIp: parts[0]!, hostPort: parts[1]! };
}

function exposed(ports: string[]): Record<string, object> {
  return Object.fromEntries(ports.map((p) => [parsePort(p).container, {}]));
}

function portBindings(ports: string[]): Record<string, Array<{ HostIp?: string; HostPort?: string }>> {
  const out: Record<string, Array<{ HostIp?: string; HostPort?: string }>> = {};
  for (const p of ports) {
    const b = parsePort(p);
    (out[b.container] ??= []).push({ ...(b.hostIp ? { HostIp: b.hostIp } : {}), HostPort: b.hostPort ?? "" });
  }
  return out;
}

function authFor(image: string, c: { username: string; password: string }): PullAuth {
  const first = image.split("/")[0]!;
  const registry = image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost") ? first : "docker.io";
  return { username: c.username, password: c.password, serveraddress: registry };
}
