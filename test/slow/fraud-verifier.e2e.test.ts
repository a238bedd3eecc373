// A faulty verifier, the only one the chain can draw, audits an honest worker's job (fraud-modes.ts).
import { describeFraudSuite } from "../support/fraud-suite.ts";

describeFraudSuite("verifier", "a cheating verifier beside an honest worker");
