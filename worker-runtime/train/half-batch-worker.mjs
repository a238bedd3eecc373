// Worker threads do not inherit the TypeScript loader the main thread was started with: register
// it here, then load the worker (as the inspection worker does).
import { register } from "tsx/esm/api";

register();
await import("./half-batch-worker.ts");
