// A bounded in-process map whose entries expire: the least recently stored entry is dropped when
// it is full. `generation` changes on every eviction, so a caller that started a slow lookup can
// tell whether an eviction raced it and must not store what it read.
export class ExpiringCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private evictions = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
  ) {}

  get generation(): number {
    return this.evictions;
  }

  get(key: string, now: number = Date.now()): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, now: number = Date.now()): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expiresAt: now + this.ttlMs });
  }

  evict(key: string): void {
    this.evictions++;
    this.entries.delete(key);
  }

  clear(): void {
    this.evictions++;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
