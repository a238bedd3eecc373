// Prints the audit rule's table for docs/verification.md ("Audit rate"): for each job size and
// verification level, the audited segments, the detection of a worker faking 10 % of the
// segments, and the extra compute the audits cost. `npm run audit-table`.
import { auditedSegments, auditTerms, FAKED_FRACTION, VERIFICATION_LEVELS } from "../api/services/pricing.ts";

const SEGMENTS = [20, 100, 450, 2000];
const percent = (x: number, digits: number) => `${(x * 100).toFixed(digits)} %`;

console.log(
  `| segments | level | audited | detection at ${percent(FAKED_FRACTION, 0)} faked | extra compute |`,
);
console.log("| ---: | --- | ---: | ---: | ---: |");
for (const segments of SEGMENTS) {
  for (const level of VERIFICATION_LEVELS) {
    // A payment of 0 leaves the detection target alone in charge; a job paid near the slash
    // audits more (the economic condition), never fewer.
    const audit = auditTerms(level, segments, auditedSegments(level, segments, 0));
    console.log(
      `| ${segments} | ${level} | ${audit.audited_segments} | ${percent(audit.detection_probability, 3)} | ${percent(audit.audited_segments / segments, 1)} |`,
    );
  }
}
