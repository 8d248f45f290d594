#!/usr/bin/env node
import "../dist/native-runner.js";
