// The PyTorch-exported fixture models (worker-runtime/fixtures/, made by make_fixtures.py), as
// the tests and the benchmark load them.
import { readdirSync, readFileSync } from "node:fs";
import type { DatasetSource } from "./run-setup.ts";

export const FIXTURE_MODELS = ["mlp", "cnn", "attention"] as const;
export type FixtureName = (typeof FIXTURE_MODELS)[number];

export interface TorchReference {
  steps: number;
  epochs: Array<{ train_loss: number; val_loss: number; val_accuracy: number }>;
  final_val_accuracy: number;
  data: string;
}

export interface Fixture {
  name: FixtureName;
  model: Uint8Array;
  dataset: DatasetSource;
  /** The spec as committed: plain JSON, parsed by the trainer. */
  spec: Record<string, unknown>;
  reference: TorchReference;
}

const fixturesDir = new URL("../fixtures/", import.meta.url);

/** Model, dataset, spec and reference of fixture `name` in `dir`. */
function readFixture<R extends { data: string }>(dir: URL, name: string) {
  const read = (path: string) => readFileSync(new URL(path, dir));
  const reference: R = JSON.parse(read(`${name}.reference.json`).toString("utf8"));
  return {
    model: read(`${name}.onnx`),
    dataset: { bytes: read(reference.data), fileName: reference.data },
    spec: JSON.parse(read(`${name}.spec.json`).toString("utf8")) as Record<string, unknown>,
    reference,
  };
}

export function loadFixture(name: FixtureName): Fixture {
  return { name, ...readFixture<TorchReference>(fixturesDir, name) };
}

/** A zoo model's PyTorch run (fixtures/zoo/, `make_fixtures.py zoo`): the loss of every step. */
export interface ZooReference {
  losses: number[];
  epochs: Array<{ train_loss: number; val_loss: number; val_accuracy: number | null }>;
  data: string;
}

export interface ZooFixture extends Omit<Fixture, "name" | "reference"> {
  name: string;
  reference: ZooReference;
}

const zooDir = new URL("zoo/", fixturesDir);

/** The zoo's models, by name, in file order. */
export function zooModels(): string[] {
  const suffix = ".reference.json";
  return readdirSync(zooDir)
    .filter((file) => file.endsWith(suffix))
    .map((file) => file.slice(0, -suffix.length))
    .sort();
}

export function loadZooFixture(name: string): ZooFixture {
  return { name, ...readFixture<ZooReference>(zooDir, name) };
}
