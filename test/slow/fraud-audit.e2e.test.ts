// An honest worker, then workers whose forged checkpoints only an audit can catch, beside two
// honest verifiers (fraud-modes.ts).
import { describeFraudSuite } from "../support/fraud-suite.ts";

describeFraudSuite("audit", "a forged checkpoint is caught by the audit of its segments");
