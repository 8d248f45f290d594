// A local image registry for the pull tests: Debian's docker-registry
// (distribution 2.x) on 127.0.0.1:<free port> with TLS and htpasswd auth.
// Podman trusts it through /etc/containers/certs.d/localhost:<port>/ca.crt,
// which is read at each pull and removed again by close().
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Engine } from "../../src/container/engine-api.js";

const REGISTRY = "/usr/bin/docker-registry";
const HTPASSWD = "/usr/bin/htpasswd";

export interface LocalRegistry {
  /** localhost:<port> */
  host: string;
  /** Tags `image` as host/name and pushes it with the registry's credentials; the local tag is removed again. */
  push(engine: Engine, image: string, name: string): Promise<string>;
  close(): Promise<void>;
}

export function registryMissing(): string | undefined {
  if (process.getuid?.() !== 0) return "the registry tests write /etc/containers/certs.d (root only)";
  for (const p of [REGISTRY, HTPASSWD]) if (!existsSync(p)) return `no ${p} (scripts/setup-podman.sh installs docker-registry and apache2-utils)`;
  return undefined;
}

export async function startRegistry(user: string, password: string): Promise<LocalRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "nr-registry-"));
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
  ], { stdio: "ignore" });
  await writeFile(join(dir, "htpasswd"), execFileSync(HTPASSWD, ["-nbB", user, password]));
  await writeFile(
    join(dir, "config.yml"),
    [
      "version: 0.1",
      "log: { level: info, accesslog: { disabled: true } }",
      `storage: { filesystem: { rootdirectory: ${join(dir, "data")} } }`,
      `http: { addr: "127.0.0.1:0", tls: { certificate: ${join(dir, "cert.pem")}, key: ${join(dir, "key.pem")} } }`,
      `auth: { htpasswd: { realm: test, path: ${join(dir, "htpasswd")} } }`,
      "",
    ].join("\n"),
  );
  const child = spawn(REGISTRY, ["serve", join(dir, "config.yml")], { stdio: ["ignore", "pipe", "pipe"] });
  // A test process that exits without close() (a failed before hook) takes its registry along.
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);
  let port: string;
  try {
    port = await listeningPort(child);
  } catch (err) {
    process.off("exit", killOnExit);
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const host = `localhost:${port}`;
  const certDir = join("/etc/containers/certs.d", host);
  await mkdir(certDir, { recursive: true });
  await copyFile(join(dir, "cert.pem"), join(certDir, "ca.crt"));
  const auth = { username: user, password, serveraddress: host };
  return {
    host,
    async push(engine, image, name) {
      const [repo, tag = "latest"] = name.split(":");
      const ref = `${host}/${repo}:${tag}`;
      await engine.getImage(image).tag({ repo: `${host}/${repo}`, tag });
      const stream = await engine.getImage(ref).push({ authconfig: auth });
      await new Promise<void>((resolve, reject) =>
        engine.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => {
          const failed = err?.message ?? out.find((o) => o.error)?.error;
          if (failed) reject(new Error(`push ${ref}: ${failed}`));
          else resolve();
        }),
      );
      await engine.getImage(ref).remove({ noprune: true });
      return ref;
    },
    async close() {
      process.off("exit", killOnExit);
      child.kill("SIGKILL");
      await rm(certDir, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The registry logs "listening on 127.0.0.1:<port>, tls" once it accepts connections. */
function listeningPort(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let log = "";
    const onData = (d: Buffer) => {
      log += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        child.stdout!.off("data", onData);
        child.stderr!.off("data", onData);
        child.stdout!.resume();
        child.stderr!.resume();
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`docker-registry exited (${code}): ${log}`)));
    child.once("error", reject);
  });
}
