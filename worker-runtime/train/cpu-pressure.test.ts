import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCpuPressure } from "./cpu-pressure.ts";

describe("parseCpuPressure", () => {
  it("reads the ten-second share of time some task waited for a CPU", () => {
    const text =
      "some avg10=12.34 avg60=85.57 avg300=71.29 total=505464197\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
    assert.equal(parseCpuPressure(text), 12.34);
  });

  it("is undefined for a text without the figure (a kernel without PSI for the CPU)", () => {
    assert.equal(parseCpuPressure(""), undefined);
    assert.equal(parseCpuPressure("full avg10=3.00 avg60=0.00 avg300=0.00 total=0\n"), undefined);
  });
});
