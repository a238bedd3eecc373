// Worker threads do not inherit the TypeScript loader the main thread was started with
// (`node --import tsx`, or bin/veritrain.mjs registering it): register it here, then load the worker.
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
