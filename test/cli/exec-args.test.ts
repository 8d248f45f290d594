// exec's two argument parsers (src/cli/commands/exec.ts): the plain one for the common command line must give
// exactly what commander gives, and leave everything else (help, errors, unusual forms) to commander.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execCommand, parseExecArgs } from "../../src/cli/commands/exec.js";
import { rootProgram } from "../../src/cli/program.js";

function viaCommander(args: string[]): Record<string, unknown> {
  const program = rootProgram();
  program.exitOverride();
  let got: Record<string, unknown> | undefined;
  execCommand(program, (opts) => {
    got = { ...opts };
  });
  program.parse(["node", "native-runner", ...args]);
  assert.ok(got, `commander ran no action for ${args.join(" ")}`);
  return got;
}

const common: string[][] = [
  ["exec"],
  ["exec", "-W", "x.yml", "-j", "build", "-E", "pull_request", "-e", "ev.json"],
  ["exec", "--workflows=w", "--job=j", "--event=push", "--event-file=e.json", "--secret-file", "s.env", "--env-file", "e.env"],
  ["exec", "-s", "A=1", "-s", "B", "--secret=C=3", "--var", "V=1", "--var", "W=2", "--input", "I=2", "--env", "E=3"],
  ["exec", "--no-recurse", "--no-skip-checkout", "-d", "--detect-event", "--insecure-secrets", "--json", "-l", "-n", "--action-cache-offline", "--privileged", "-p"],
  ["exec", "-dln"],
  ["exec", "-C", "/tmp", "--default-actions-url", "https://example.com", "-P", "ubuntu-latest=-self-hosted", "-P", "a=b", "-i", "img:1"],
  ["exec", "--container-host", "unix:///x.sock", "--container-daemon-socket", "/s.sock", "--network", "n", "--container-options=--cpus 1"],
  ["exec", "--concurrency", "3"],
  ["exec", "--concurrency=12", "-C", "."],
];

test("the plain parser gives what commander gives for the common command lines", () => {
  for (const args of common) {
    const fast = parseExecArgs(["node", "native-runner", ...args]);
    assert.ok(fast, `the plain parser takes: ${args.join(" ")}`);
    assert.deepEqual(fast, viaCommander(args), args.join(" "));
  }
});

test("everything else is left to commander: help, version, unknown options, arguments, bad values, optional values", () => {
  const others: string[][] = [
    ["exec", "--help"],
    ["exec", "-h"],
    ["exec", "--version"],
    ["exec", "--use-gitignore"],
    ["exec", "--use-gitignore", "false"],
    ["exec", "extra-argument"],
    ["exec", "--concurrency", "0"],
    ["exec", "--concurrency", "x"],
    ["exec", "--no-such-option"],
    ["exec", "-W"],
    ["exec", "--container-options", "--cpus 1"],
    ["-c", "config.yaml", "exec"],
    ["exec", "-c", "config.yaml"],
  ];
  for (const args of others) assert.equal(parseExecArgs(["node", "native-runner", ...args]), undefined, args.join(" "));
});
