import { writeFileSync } from "node:fs";
import { generateOpenApiYaml } from "../api/openapi.ts";

const target = new URL("../openapi.yaml", import.meta.url);
writeFileSync(target, await generateOpenApiYaml());
console.log(`wrote ${target.pathname}`);
