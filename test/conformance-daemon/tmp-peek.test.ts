import { test } from "node:test";
import { startSetup } from "./forge.js";
test("peek", async () => {
  const s = await startSetup({ capacity: 2, cli: false });
  const wf = `on: push
jobs:
  j:
    runs-on: native
    steps:
      - run: echo one
      - id: skip
        if: false
        run: echo never
      - uses: actions/checkout@v4
      - run: exit 3
      - if: always()
        run: echo after
`;
  const { runId } = s.forge.emu.enqueueRun({ workflow: wf, context: s.forge.context, repo: "actions/checkout" });
  const [j] = await s.forge.emu.waitForRunDone(runId, 60000);
  console.log(JSON.stringify(j!.steps, null, 1));
  j!.logRows.forEach((r, i) => console.log(i, r));
  await s.close();
});
