// A worker whose evidence the gateway refuses (a garbage checkpoint, a swapped model): caught at
// upload, slashed for its missed deadline, and an honest worker delivers (fraud-modes.ts).
import { describeFraudSuite } from "../support/fraud-suite.ts";

describeFraudSuite("evidence", "a worker's forged evidence is refused at the gateway");
