/**
 * A table of rules keyed by operator type, which is the uploader's string: without a prototype,
 * `table["constructor"]` or `"__proto__" in table` finds no rule where a plain object would find
 * Object.prototype's members and call them as one.
 */
export function ruleTable<T>(rules: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, rules));
}
