import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { ActionError, prepareAction, type PrepareActionOptions } from "../../src/actions/index.js";
import { gitEnv } from "../../src/actions/git.js";
import { makeRepo, startGitHttpServer, type GitHttpServer } from "../helpers/git-http-server.js";

const TOKEN = "tok-9f8e7d6c5b4a39281706";
const encodings = [TOKEN, Buffer.from(`x-access-token:${TOKEN}`).toString("base64"), Buffer.from(TOKEN).toString("base64")];

let tmp: string;
let server: GitHttpServer;
let commit: string;
let lines: string[];

function options(extra: Partial<PrepareActionOptions> = {}): PrepareActionOptions {
  return {
    workspace: tmp,
    cacheDir: path.join(tmp, "cache"),
    offline: false,
    defaultActionsUrl: server.url,
    log: (line) => lines.push(line),
    ...extra,
  };
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const ent of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (ent.isFile()) out.push(path.join(ent.parentPath ?? (ent as unknown as { path: string }).path, ent.name));
  }
  return out;
}

function assertNoSecret(text: string, where: string): void {
  for (const e of encodings) assert.ok(!text.includes(e), `${where} contains the token (${e})`);
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "actions-creds-"));
  commit = (await makeRepo(path.join(tmp, "repos"), "private/act", { "action.yml": "name: p\nruns:\n  using: node20\n  main: i.js\n" }, { tags: ["v1"] })).commit;
  server = await startGitHttpServer({ root: path.join(tmp, "repos"), token: TOKEN });
  lines = [];
});
after(async () => {
  await server.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe("authenticated clones", () => {
  it("refuses anonymous access (the server really checks)", async () => {
    const before = server.requests;
    await assert.rejects(prepareAction("private/act@v1", options()), (err: unknown) => {
      assert.ok(err instanceof ActionError && err.code === "fetch-failed", String(err));
      return true;
    });
    assert.ok(server.log.slice(before).some((r) => r.status === 401));
  });

  it("sends the token as a header and never logs or stores it", async () => {
    const p = await prepareAction("private/act@v1", options({ token: TOKEN, serverUrl: `${server.url}/` }));
    assert.equal(p.commit, commit);
    assert.ok(lines.length > 0);
    for (const l of lines) assertNoSecret(l, `log line ${JSON.stringify(l)}`);
    assertNoSecret(JSON.stringify(p), "PreparedAction");
    await assert.rejects(fs.stat(path.join(p.dir, ".git")), "no .git (and so no .git/config) is kept");
    const files = await filesUnder(path.join(tmp, "cache"));
    assert.ok(files.length > 0);
    for (const f of files) assertNoSecret(await fs.readFile(f, "latin1"), f);
  });

  it("makes a job without access prove it before using a privately fetched entry", async () => {
    // The previous test cached private/act with the token.
    let before = server.requests;
    await assert.rejects(prepareAction(`private/act@${commit}`, options()), (err: unknown) => {
      assert.ok(err instanceof ActionError && err.code === "fetch-failed", String(err));
      assert.match(err.message, /no access to .*private\/act/);
      return true;
    });
    assert.ok(server.log.slice(before).some((r) => r.status === 401), "access was checked with the server");
    before = server.requests;
    const ok = await prepareAction(`private/act@${commit}`, options({ token: TOKEN, serverUrl: server.url }));
    assert.equal(ok.commit, commit);
    assert.ok(server.requests > before);
    // Offline mode trusts the cache (the operator chose it).
    const offline = await prepareAction(`private/act@${commit}`, options({ offline: true }));
    assert.equal(offline.dir, ok.dir);
    for (const p of [ok, offline]) await p.release();
  });

  it("keeps the token for the instance it belongs to", async () => {
    const cacheDir = path.join(tmp, "cache-other");
    await assert.rejects(
      prepareAction("private/act@v1", options({ cacheDir, token: TOKEN, serverUrl: "http://forge.example.invalid" })),
      (err: unknown) => err instanceof ActionError && err.code === "fetch-failed",
    );
  });

  it("turns credentials in the actions URL into a header and hides them", async () => {
    const cacheDir = path.join(tmp, "cache-userinfo");
    const withCreds = server.url.replace("http://", `http://someone:${TOKEN}@`);
    const p = await prepareAction("private/act@v1", options({ cacheDir, defaultActionsUrl: withCreds }));
    assert.equal(p.commit, commit);
    assert.equal(p.url, `${server.url}/private/act`);
    for (const l of lines) assertNoSecret(l, l);
    for (const f of await filesUnder(cacheDir)) assertNoSecret(await fs.readFile(f, "latin1"), f);
  });

  it("scrubs a wrong token from error messages", async () => {
    const wrong = "wrong-token-1234567890";
    const withCreds = server.url.replace("http://", `http://u:${wrong}@`);
    await assert.rejects(prepareAction("private/act@v2", options({ cacheDir: path.join(tmp, "c3"), defaultActionsUrl: withCreds })), (err: unknown) => {
      assert.ok(err instanceof ActionError);
      assert.ok(!err.message.includes(wrong), err.message);
      assert.ok(!err.message.includes("u:"), err.message);
      return true;
    });
  });

  it("runs git without prompts, system or global config", () => {
    const env = gitEnv({ url: "https://x/y", authorization: "basic abc", insecure: true });
    assert.equal(env.GIT_TERMINAL_PROMPT, "0");
    assert.equal(env.GIT_CONFIG_NOSYSTEM, "1");
    assert.equal(env.GIT_CONFIG_GLOBAL, "/dev/null");
    const config = new Map<string, string>();
    for (let i = 0; i < Number(env.GIT_CONFIG_COUNT); i++) config.set(env[`GIT_CONFIG_KEY_${i}`]!, env[`GIT_CONFIG_VALUE_${i}`]!);
    assert.equal(config.get("http.extraHeader"), "Authorization: basic abc");
    assert.equal(config.get("http.sslVerify"), "false");
    assert.ok(!gitEnv({ url: "https://x/y" }).GIT_CONFIG_VALUE_0?.includes("Authorization"));
  });
});

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;

describe("TLS", () => {
  it("verifies certificates unless insecure is set", { skip: hasOpenssl ? false : "openssl is not installed (scripts/setup-host.sh installs it)" }, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "actions-tls-"));
    try {
      await promisify(execFile)("openssl", [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"),
      ]);
      await makeRepo(path.join(dir, "repos"), "acme/tls", { "action.yml": "name: t\nruns:\n  using: node20\n  main: i.js\n" }, { tags: ["v1"] });
      const srv = await startGitHttpServer({
        root: path.join(dir, "repos"),
        tls: { key: await fs.readFile(path.join(dir, "key.pem"), "utf8"), cert: await fs.readFile(path.join(dir, "cert.pem"), "utf8") },
      });
      try {
        assert.match(srv.url, /^https:/);
        const o: PrepareActionOptions = { workspace: dir, cacheDir: path.join(dir, "cache"), offline: false, defaultActionsUrl: srv.url };
        await assert.rejects(prepareAction("acme/tls@v1", o), (err: unknown) => {
          assert.ok(err instanceof ActionError && err.code === "fetch-failed");
          assert.match(err.message, /certificate|SSL/i);
          return true;
        });
        const p = await prepareAction("acme/tls@v1", { ...o, insecure: true });
        assert.equal(p.metadata.name, "t");
      } finally {
        await srv.close();
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
