// Liveness over the real stack (docs/verification.md, Liveness): a worker that claims and never
// delivers, one that commits and never completes (an honest worker takes each over), and a
// verifier that misses every audit (the job fails at no charge once the verifying deadline,
// shortened through the API's configuration, passes, and the escrow returns).
import { describeFraudSuite } from "../support/fraud-suite.ts";

describeFraudSuite("liveness", "every state a job can be in has a deadline");
