// Prints the audit rule's table for docs/verification.md ("Audit rate"): for each job size and
// verification level, the audited segments, the detection of a worker faking 10 % of the
// segments, and the extra compute the audits cost: audited segments × replay overhead / segments,
// the replay overhead being a verifier's compute per replayed step over the worker's per trained
// step (measured by `npm run bench:replay`, and from the nodes' own reports by bench:fraud).
// Then the check of issue 10's bar: at least 99 % detection for 10 % faked segments of a
// 450-segment job at no more than 10 % extra compute, and the largest overhead that meets it.
//
//   npm run audit-table                                 (overheads 1, 0.91, 1.34 and 1.85)
//   npm run audit-table -- --replay-overhead 1.2,2.5
import { parseArgs } from "node:util";
import {
  auditedSegments,
  auditTerms,
  detectionTargets,
  FAKED_FRACTION,
  VERIFICATION_LEVELS,
  type VerificationLevel,
} from "../api/services/pricing.ts";

// 1: replay as dear as training; the others are bench:replay's stride-16 ratios in
// docs/verification.md (compute-bound MLP, CNN fixture, MLP fixture).
const { values } = parseArgs({
  options: { "replay-overhead": { type: "string", default: "1,0.91,1.34,1.85" } },
});
const overheads = values["replay-overhead"].split(",").map(Number);
if (overheads.some((r) => !Number.isFinite(r) || r <= 0)) {
  throw new Error(`--replay-overhead takes positive numbers, got ${values["replay-overhead"]}`);
}

const SEGMENTS = [20, 100, 450, 2000];
const BAR = { segments: 450, detection: 0.99, extraCompute: 0.1 };
const percent = (x: number, digits: number) => `${(x * 100).toFixed(digits)} %`;
// A payment of 0 leaves the detection target alone in charge; a job paid near the slash audits
// more (the economic condition), never fewer.
const terms = (level: VerificationLevel, segments: number) =>
  auditTerms(level, segments, auditedSegments(level, segments, 0));

console.log(
  `| segments | level | audited | detection at ${percent(FAKED_FRACTION, 0)} faked | ${overheads.map((r) => `extra compute at ${r}x`).join(" | ")} |`,
);
console.log(`| ---: | --- | ---: | ---: | ${overheads.map(() => "---:").join(" | ")} |`);
for (const segments of SEGMENTS) {
  for (const level of VERIFICATION_LEVELS) {
    const audit = terms(level, segments);
    const extra = overheads.map((r) => percent((audit.audited_segments * r) / segments, 1));
    console.log(
      `| ${segments} | ${level} | ${audit.audited_segments} | ${percent(audit.detection_probability, 3)} | ${extra.join(" | ")} |`,
    );
  }
}

console.log(
  `\nThe bar: ≥ ${percent(BAR.detection, 0)} detection at ≤ ${percent(BAR.extraCompute, 0)} extra compute, ${BAR.segments} segments:`,
);
for (const level of VERIFICATION_LEVELS) {
  const audit = terms(level, BAR.segments);
  const reaches = audit.detection_probability >= BAR.detection;
  // extra = m · r / n ≤ bar  ⇔  r ≤ bar · n / m
  const largest = (BAR.extraCompute * BAR.segments) / audit.audited_segments;
  const met = overheads.filter((r) => r <= largest);
  console.log(
    `- ${level} (target ${percent(detectionTargets[level], 2)}): ${audit.audited_segments} audits, detection ${percent(audit.detection_probability, 3)} (${reaches ? "reaches" : "misses"} ${percent(BAR.detection, 0)}); extra compute ≤ ${percent(BAR.extraCompute, 0)} while the replay overhead is ≤ ${largest.toFixed(3)}x: ${met.length > 0 ? `met at ${met.join("x, ")}x` : "met at none of the overheads given"}`,
  );
}
