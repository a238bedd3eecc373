// `node --import tsx scripts/with-services.ts <script> [args...]`: runs the script with the
// embedded services for DATABASE_URL or REDIS_URL when unset (see scripts/services.ts).
import { runWithServices } from "./services.ts";

process.exit(await runWithServices(process.argv.slice(2), { dataDir: "with-services" }));
