#!/usr/bin/env -S node --
// "--" ends node's own options: without it node 20 takes `exec --env-file x` for itself.
import "../dist/native-runner.js";
