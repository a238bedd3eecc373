// A worker whose forged checkpoint two honest verifiers dispute loses the pinpoint game over HTTP
// and the chain: it is slashed, its forged checkpoints are dropped, and the honest standby worker
// re-runs the job, which delivers exactly the honest model (fraud-modes.ts). A file of its own: the
// dispute and the re-run take most of a file's time on a loaded machine.
import { describeFraudSuite } from "../support/fraud-suite.ts";

describeFraudSuite("disputes", "a cheat that loses its dispute is slashed and the job is re-run honestly");
