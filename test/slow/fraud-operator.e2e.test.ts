// A worker that computes one operator its own way on every step (tanh-approximated GELU, Gemm on
// float16-rounded inputs): every segment it commits disagrees with an honest replay (fraud-modes.ts).
import { describeFraudSuite } from "../support/fraud-suite.ts";

describeFraudSuite("operator", "a worker that swaps an operator is caught");
