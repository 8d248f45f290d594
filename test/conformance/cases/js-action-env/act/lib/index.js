const fs = require("node:fs");
const e = process.env;
const cwdOk = process.cwd() === e.GITHUB_WORKSPACE;
fs.appendFileSync(e.GITHUB_OUTPUT, `seen=${e.INPUT_N}|${e.INPUT_B}|${e.STEP_ENV}|${e.JOB_ENV}|${cwdOk}\n`);
if (e.INPUT_FAIL === "true") {
  console.log("::error::action failed on purpose");
  process.exitCode = 1;
}
