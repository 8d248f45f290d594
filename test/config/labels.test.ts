import { test } from "node:test";
import assert from "node:assert/strict";
import { commaSplit, formatLabel, labelNames, parseLabel, pickPlatform, validateLabels } from "../../src/config/labels.js";

test("label grammar matches forgejo-runner", () => {
  const ok: [string, string, string, string][] = [
    ["ubuntu", "ubuntu", "docker", "//node:22-bookworm"],
    ["ubuntu:docker", "ubuntu", "docker", "//node:22-bookworm"],
    ["ubuntu:docker:", "ubuntu", "docker", "//node:22-bookworm"],
    ["ubuntu:docker://ghcr.io/x/y:tag", "ubuntu", "docker", "//ghcr.io/x/y:tag"],
    ["docker:docker://data.forgejo.org/oci/node:20-bullseye", "docker", "docker", "//data.forgejo.org/oci/node:20-bullseye"],
    ["native:host", "native", "host", ""],
    ["lxc:lxc", "lxc", "lxc", "//debian:bookworm"],
    ["lxc:lxc://debian:bookworm", "lxc", "lxc", "//debian:bookworm"],
    ["c:lxc://alpine:3.20:extra", "c", "lxc", "//alpine:3.20:extra"],
    ["", "", "docker", "//node:22-bookworm"],
  ];
  for (const [text, name, schema, arg] of ok) {
    assert.deepEqual(parseLabel(text), { name, schema, arg }, text);
  }
  const bad: [string, RegExp][] = [
    ["native:host:x", /LabelError: schema: host does not have arguments$/],
    ["native:host:", /LabelError: schema: host does not have arguments$/],
    ["k:k8s", /LabelError: unsupported schema: k8s$/],
    ["k:Docker", /LabelError: unsupported schema: Docker$/],
    [" ubuntu", /starting or ending with a space is invalid/],
    ["ubuntu :host", /starting or ending with a space is invalid/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseLabel(text), re, text);
});

test("only names go to the server", () => {
  assert.deepEqual(labelNames(["native:host", "ubuntu:docker://node:22", "plain", "c:lxc"]), ["native", "ubuntu", "plain", "c"]);
  assert.throws(() => labelNames(["x:nope"]), /unsupported schema/);
  assert.equal(validateLabels(["a:host", "b"]), undefined);
  assert.match(validateLabels(["a:host", "b:host:arg"])!, /does not have arguments/);
});

test("platform is picked from the first runs-on entry that matches, else the default image", () => {
  const labels = ["native:host", "ubuntu:docker://ghcr.io/img:1", "box:lxc"].map(parseLabel);
  assert.equal(pickPlatform(labels, ["native"]), "-self-hosted");
  assert.equal(pickPlatform(labels, ["x", "ubuntu", "native"]), "ghcr.io/img:1");
  assert.equal(pickPlatform(labels, ["box"]), "lxc:debian:bookworm");
  assert.equal(pickPlatform(labels, ["nothing"]), "node:22-bookworm");
  assert.equal(formatLabel(labels[0]!), "native:host");
  assert.equal(formatLabel(labels[1]!), "ubuntu:docker://ghcr.io/img:1");
});

test("comma lists are split and trimmed", () => {
  assert.deepEqual(commaSplit("docker:docker://node:22-bookworm, self-hosted:host , ,lxc:lxc"), [
    "docker:docker://node:22-bookworm", "self-hosted:host", "lxc:lxc",
  ]);
  assert.deepEqual(commaSplit(""), []);
});
