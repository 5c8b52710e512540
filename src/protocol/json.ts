// Small helpers for reading parsed JSON safely: own properties only, so `__proto__` or
// `constructor` keys in a frame can never reach Object.prototype (docs/protocol.md §1.3).

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The own property `key` of `obj`, or undefined. Never reads inherited members. */
export function own(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

export function hasOwn(obj: JsonObject, key: string): boolean {
  return Object.hasOwn(obj, key);
}
