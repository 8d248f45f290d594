const fs = require("node:fs");
const path = require("node:path");
const who = process.env["INPUT_WHO"];
const some = process.env["INPUT_SOME-INPUT"];
fs.appendFileSync(process.env.GITHUB_OUTPUT, `greeting=hello ${who} ${some}\n`);
fs.appendFileSync(process.env.GITHUB_OUTPUT, `action_path=${path.basename(process.env.GITHUB_ACTION_PATH || "")}\n`);
fs.appendFileSync(process.env.GITHUB_STATE, `saved=state-for-${who}\n`);
console.log(`main ran for ${who}`);
