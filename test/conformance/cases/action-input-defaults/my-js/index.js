const fs = require("node:fs");
const e = process.env;
fs.appendFileSync(e.GITHUB_OUTPUT, `seen=${e.INPUT_EVENT}|${e.INPUT_MY_INPUT}|${e.INPUT_UNSET ?? "undefined"}\n`);
