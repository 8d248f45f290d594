const fs = require("node:fs");
fs.appendFileSync(process.env.GITHUB_STATE, `k=st-${process.env.INPUT_TAG}\n`);
console.log(`main-${process.env.INPUT_TAG}`);
