// An honest worker beside two honest verifiers: audited, paid, nobody slashed (fraud-modes.ts).
// The workers whose forged checkpoints only an audit can catch are in the other fraud files.
import { describeFraudSuite } from "../support/fraud-suite.ts";

describeFraudSuite("audit", "honest work is audited and paid");
