// Persistence of the chain in --data-dir: an append-only journal, one JSON line per block with
// its header, extrinsics and state writes. A crash can only leave a torn last line (no trailing
// newline or unparsable): it is cut off on open, so the chain restarts at the last whole block.
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

export type JournalRecord = {
  readonly number: number;
  readonly hash: string;
  /** SCALE-encoded header, `0x` hex. */
  readonly header: string;
  readonly extrinsics: readonly string[];
  /** Storage writes of the block: [key, value or null for a deletion], `0x` hex. */
  readonly changes: ReadonlyArray<readonly [string, string | null]>;
};

export class JournalError extends Error {
  readonly code = "CorruptJournal";
}

const FILE_NAME = "chain.jsonl";

export class Journal {
  readonly #fd: number;

  private constructor(
    readonly path: string,
    readonly records: readonly JournalRecord[],
  ) {
    this.#fd = openSync(path, "a");
  }

  /** Opens (or creates) the journal in a directory and reads back every whole record. */
  static open(directory: string): Journal {
    mkdirSync(directory, { recursive: true });
    const path = join(directory, FILE_NAME);
    const records: JournalRecord[] = [];
    if (existsSync(path)) {
      const text = readFileSync(path, "utf8");
      let offset = 0;
      while (offset < text.length) {
        const end = text.indexOf("\n", offset);
        const record = end < 0 ? undefined : parse(text.slice(offset, end));
        if (record === undefined) {
          if (end >= 0 && end < text.length - 1)
            throw new JournalError(`${path}: unreadable record ${records.length}`);
          break;
        }
        if (record.number !== records.length) {
          throw new JournalError(`${path}: record ${records.length} is numbered ${record.number}`);
        }
        records.push(record);
        offset = end + 1;
      }
      // The journal is ASCII (JSON of hex), so string offsets are byte offsets.
      if (offset < text.length) truncateSync(path, offset);
    }
    return new Journal(path, records);
  }

  /** Appends one block and flushes it to disk before the block is announced. */
  append(record: JournalRecord): void {
    writeSync(this.#fd, `${JSON.stringify(record)}\n`);
    fdatasyncSync(this.#fd);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

function parse(line: string): JournalRecord | undefined {
  try {
    const value = JSON.parse(line) as JournalRecord;
    return typeof value.number === "number" && typeof value.header === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}
