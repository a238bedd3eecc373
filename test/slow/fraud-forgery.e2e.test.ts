// A worker that forges its run (another job's checkpoints, a segment trained on part of the data):
// refused at the gateway or caught by an honest verifier's replay (fraud-modes.ts).
import { describeFraudSuite } from "../support/fraud-suite.ts";

describeFraudSuite("forgery", "a worker that forges its run is caught");
