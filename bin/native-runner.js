#!/usr/bin/env -S node --
// "--" ends node's own options: without it node 20 takes `exec --env-file x` for itself.
// CommonJS (bin/package.json), like the bundle's entry: `--version` and `exec` never start the ES module loader.
require("../dist/native-runner.js");
