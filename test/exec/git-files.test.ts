// exec reads a plain repository's answers from its files (src/exec/git-files.ts) instead of starting git.
// Each case builds a real repository and holds those answers to git's own, with the same environment; the
// layouts the reader does not handle must be left to git (undefined), never answered differently.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gitAnswersFromFiles } from "../../src/exec/git-files.js";
import { gitAnswers } from "../../src/exec/git-info.js";

interface Case {
  name: string;
  /** Run in the repository (git commands, as arrays) or given its path. */
  setup: (repo: string, home: string, git: (...a: string[]) => void) => void;
  /** Directory exec is pointed at, relative to the repository. */
  at?: string;
  env?: Record<string, string>;
  /** Whether the files are read (true) or git is left to answer (false). */
  read: boolean;
}

const commit = (git: (...a: string[]) => void) => {
  git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "c");
};

const cases: Case[] = [
  {
    name: "origin over https, a commit, user.name from ~/.gitconfig",
    setup: (_r, home, git) => {
      writeFileSync(join(home, ".gitconfig"), "[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n");
      git("remote", "add", "origin", "https://forge.example.com/team/project.git");
      commit(git);
    },
    read: true,
  },
  {
    name: "several remotes, none called origin (git lists them sorted)",
    setup: (_r, _h, git) => {
      git("remote", "add", "zeta", "git@z.example.com:z/one.git");
      git("remote", "add", "alpha", "ssh://git@a.example.com/a/two");
      commit(git);
    },
    read: true,
  },
  { name: "no remote, no user.name", setup: (_r, _h, git) => commit(git), read: true },
  {
    name: "packed refs",
    setup: (_r, _h, git) => {
      commit(git);
      git("pack-refs", "--all");
    },
    read: true,
  },
  { name: "a branch with no commit yet", setup: () => {}, read: true },
  {
    name: "origin's HEAD names its default branch",
    setup: (_r, _h, git) => {
      git("remote", "add", "origin", "https://forge.example.com/o/n");
      commit(git);
      git("update-ref", "refs/remotes/origin/trunk", "HEAD");
      git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk");
    },
    read: true,
  },
  {
    name: "exec pointed at a subdirectory",
    setup: (repo, _h, git) => {
      mkdirSync(join(repo, "sub/deeper"), { recursive: true });
      git("remote", "add", "origin", "https://forge.example.com/o/n");
      commit(git);
    },
    at: "sub/deeper",
    read: true,
  },
  {
    name: "quoted values, comments, case of keys, the repository's user.name over the global one",
    setup: (repo, home, git) => {
      writeFileSync(join(home, ".gitconfig"), "# global\n[User]\n  Name = global name\n");
      commit(git);
      writeFileSync(join(repo, ".git/config"), `${execFileSync("cat", [join(repo, ".git/config")], { encoding: "utf8" })}[user]\n\tname = "Ada  \\"A\\"  Lovelace" ; a comment\n[remote "origin"]\n\turl = https://forge.example.com/o/n # trailing\n`);
    },
    read: true,
  },
  {
    name: "user.name from $XDG_CONFIG_HOME/git/config",
    setup: (_r, home, git) => {
      mkdirSync(join(home, "xdg/git"), { recursive: true });
      writeFileSync(join(home, "xdg/git/config"), "[user]\n\tname = From Xdg\n");
      commit(git);
    },
    env: { XDG_CONFIG_HOME: "HOME/xdg" },
    read: true,
  },
  {
    name: "detached HEAD (git describes a tag)",
    setup: (_r, _h, git) => {
      commit(git);
      git("tag", "v1");
      git("checkout", "-q", "--detach");
    },
    read: false,
  },
  {
    name: "a linked worktree (.git is a file)",
    setup: (repo, _h, git) => {
      commit(git);
      git("worktree", "add", "-q", join(repo, "wt"));
    },
    at: "wt",
    read: false,
  },
  {
    name: "an include in the global config",
    setup: (_r, home, git) => {
      writeFileSync(join(home, "more"), "[user]\n\tname = Included\n");
      writeFileSync(join(home, ".gitconfig"), `[include]\n\tpath = ${join(home, "more")}\n`);
      commit(git);
    },
    read: false,
  },
  {
    name: "URL rewriting (insteadOf)",
    setup: (_r, home, git) => {
      writeFileSync(join(home, ".gitconfig"), '[url "https://forge.example.com/"]\n\tinsteadOf = fe:\n');
      git("remote", "add", "origin", "fe:o/n");
      commit(git);
    },
    read: false,
  },
  {
    name: "git variables that do not concern the repository (TLS, commit identity)",
    setup: (_r, _h, git) => commit(git),
    env: { GIT_SSL_CAINFO: "/etc/ssl/certs/ca-certificates.crt", GIT_AUTHOR_NAME: "Someone Else", GIT_TERMINAL_PROMPT: "0" },
    read: true,
  },
  { name: "GIT_CONFIG_GLOBAL in the environment", setup: (_r, _h, git) => commit(git), env: { GIT_CONFIG_GLOBAL: "/dev/null" }, read: false },
  {
    name: "a bare repository inside a working tree (git takes the bare one)",
    setup: (repo, _h, git) => {
      git("remote", "add", "origin", "https://forge.example.com/outer/repo");
      commit(git);
      execFileSync("git", ["init", "-q", "--bare", join(repo, "inner.git")]);
    },
    at: "inner.git",
    read: false,
  },
  { name: "GIT_DIR in the environment", setup: (_r, _h, git) => commit(git), env: { GIT_DIR: "REPO/.git" }, read: false },
  {
    name: "sha256 objects (an extension)",
    setup: (repo) => {
      rmSync(join(repo, ".git"), { recursive: true });
      execFileSync("git", ["init", "-q", "--object-format=sha256", "-b", "main"], { cwd: repo });
    },
    read: false,
  },
];

for (const c of cases) {
  test(`repository facts from files, as git gives them: ${c.name}`, (t) => {
    const root = mkdtempSync(join(tmpdir(), "nr-gitfiles-"));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const repo = join(root, "repo");
    const home = join(root, "home");
    mkdirSync(repo);
    mkdirSync(home);
    const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home };
    for (const [k, v] of Object.entries(c.env ?? {})) env[k] = v.replace(/^HOME/, home).replace(/^REPO/, repo);
    const git = (...a: string[]) => execFileSync("git", a, { cwd: repo, env: { PATH: env.PATH!, HOME: home }, stdio: "ignore" });
    git("init", "-q", "-b", "main");
    c.setup(repo, home, git);
    const dir = join(repo, c.at ?? "");
    const fromFiles = gitAnswersFromFiles(dir, env);
    if (!c.read) {
      assert.equal(fromFiles, undefined, "left to git");
      return;
    }
    assert.ok(fromFiles, "read from the files");
    // What exec takes from `git remote -v` is the fetch lines.
    const fetches = (a: string[]) => [a[0]!.split("\n").filter((l) => l.endsWith(" (fetch)")).join("\n"), ...a.slice(1, 6)];
    assert.deepEqual(fetches(fromFiles), fetches(gitAnswers(dir, env)));
  });
}

test("repository facts from files: a directory outside any repository is left to git", (t) => {
  const root = mkdtempSync(join(tmpdir(), "nr-gitfiles-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(gitAnswersFromFiles(root, { PATH: process.env.PATH ?? "", HOME: root }), undefined);
});
