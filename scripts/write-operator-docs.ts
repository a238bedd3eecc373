// Writes the supported-operator table into docs/training.md, between its markers, from the
// gradient table (api/services/training-operators.ts); a test fails when the committed one is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { withOperatorTable } from "../api/services/operator-docs.ts";

const target = new URL("../docs/training.md", import.meta.url);
writeFileSync(target, withOperatorTable(readFileSync(target, "utf8")));
console.log(`wrote the operator table into ${target.pathname}`);
