import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ActionError, describeReference, parseUses, type ActionReference } from "../../src/actions/index.js";

describe("parseUses", () => {
  const good: [string, ActionReference][] = [
    ["./", { kind: "local", uses: "./", path: "" }],
    ["./.forgejo/actions/hello", { kind: "local", uses: "./.forgejo/actions/hello", path: ".forgejo/actions/hello" }],
    ["./a/../b/", { kind: "local", uses: "./a/../b/", path: "b" }],
    ["actions/checkout@v4", { kind: "remote", uses: "actions/checkout@v4", owner: "actions", repo: "checkout", path: "", ref: "v4" }],
    [
      "owner/repo/sub/dir@feature/x",
      { kind: "remote", uses: "owner/repo/sub/dir@feature/x", owner: "owner", repo: "repo", path: "sub/dir", ref: "feature/x" },
    ],
    [
      "owner/repo@0123456789abcdef0123456789abcdef01234567",
      { kind: "remote", uses: "owner/repo@0123456789abcdef0123456789abcdef01234567", owner: "owner", repo: "repo", path: "", ref: "0123456789abcdef0123456789abcdef01234567" },
    ],
    [
      "https://code.example.org/owner/repo@v1",
      { kind: "remote", uses: "https://code.example.org/owner/repo@v1", baseUrl: "https://code.example.org", owner: "owner", repo: "repo", path: "", ref: "v1" },
    ],
    [
      "http://127.0.0.1:3000/owner/repo.git/sub@main",
      { kind: "remote", uses: "http://127.0.0.1:3000/owner/repo.git/sub@main", baseUrl: "http://127.0.0.1:3000", owner: "owner", repo: "repo", path: "sub", ref: "main" },
    ],
    ["  owner/repo@v1  ", { kind: "remote", uses: "owner/repo@v1", owner: "owner", repo: "repo", path: "", ref: "v1" }],
    ["docker://alpine:3.20", { kind: "docker", uses: "docker://alpine:3.20", image: "alpine:3.20" }],
    ["docker://ghcr.io/o/i@sha256:abcd", { kind: "docker", uses: "docker://ghcr.io/o/i@sha256:abcd", image: "ghcr.io/o/i@sha256:abcd" }],
  ];
  for (const [uses, expected] of good) {
    it(`parses ${JSON.stringify(uses)}`, () => {
      assert.deepEqual(parseUses(uses), expected);
    });
  }

  const bad: [string, RegExp][] = [
    ["", /empty/],
    ["owner/repo", /missing '@ref'/],
    ["owner@v1", /owner\/repo/],
    ["owner/repo@", /empty or malformed ref/],
    ["owner//repo@v1", /owner\/repo/],
    ["owner/repo/../x@v1", /owner\/repo/],
    ["./../outside", /inside the workspace/],
    ["docker://", /docker:\/\/image/],
    ["https://host-only@v1", /https:\/\/host/],
    ["https://host/owner@v1", /owner\/repo/],
  ];
  for (const [uses, message] of bad) {
    it(`rejects ${JSON.stringify(uses)}`, () => {
      assert.throws(
        () => parseUses(uses),
        (err: unknown) => err instanceof ActionError && err.code === "bad-reference" && message.test(err.message),
      );
    });
  }

  it("keeps credentials of a full URL for fetching but out of messages", () => {
    const ref = parseUses("https://u:s3cret@host/o/r@v1");
    assert.equal(ref.kind === "remote" && ref.baseUrl, "https://u:s3cret@host");
    assert.equal(describeReference(ref), "o/r@v1");
    assert.throws(
      () => parseUses("https://u:s3cret@host/o"),
      (err: unknown) => err instanceof ActionError && !err.message.includes("s3cret"),
    );
  });

  it("describes references for messages", () => {
    assert.equal(describeReference(parseUses("o/r/p@v1")), "o/r/p@v1");
    assert.equal(describeReference(parseUses("https://h/o/r@v1")), "o/r@v1");
    assert.equal(describeReference(parseUses("./x")), "./x");
    assert.equal(describeReference(parseUses("docker://a")), "docker://a");
  });
});
