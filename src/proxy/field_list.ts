/**
 * Upstream request fields as a flat `[name, value, …]` list with the part of the Headers API that
 * policies use. The http1 client writes the list as it is, so editing fields (transformations, claim
 * forwarding) never builds a Headers object, whose every operation re-validates and whose iteration sorts.
 */

/** What stages may do with the fields sent upstream; Headers has the same shape. */
export interface UpstreamFields {
  get(name: string): string | null;
  has(name: string): boolean;
  set(name: string, value: string): void;
  append(name: string, value: string): void;
  delete(name: string): void;
  [Symbol.iterator](): IterableIterator<[string, string]>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const LINE_BREAKING = /[\r\n\0]/;

export class FieldList implements UpstreamFields {
  /** Lowercase names and values, alternating. */
  readonly list: string[];

  constructor(list: string[] = []) {
    this.list = list;
  }

  get(name: string): string | null {
    const key = name.toLowerCase();
    const list = this.list;
    let found: string | null = null;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] === key) found = found === null ? list[i + 1] : `${found}, ${list[i + 1]}`;
    }
    return found;
  }

  has(name: string): boolean {
    const key = name.toLowerCase();
    const list = this.list;
    for (let i = 0; i < list.length; i += 2) if (list[i] === key) return true;
    return false;
  }

  set(name: string, value: string): void {
    const key = checked(name, value);
    this.delete(key);
    this.list.push(key, value);
  }

  append(name: string, value: string): void {
    this.list.push(checked(name, value), value);
  }

  delete(name: string): void {
    const key = name.toLowerCase();
    const list = this.list;
    for (let i = list.length - 2; i >= 0; i -= 2) if (list[i] === key) list.splice(i, 2);
  }

  *[Symbol.iterator](): IterableIterator<[string, string]> {
    const list = this.list;
    for (let i = 0; i < list.length; i += 2) yield [list[i], list[i + 1]];
  }
}

// The same rules as Headers: a token name, and no byte that could split the request (RFC 9110 §5).
function checked(name: string, value: string): string {
  if (!TOKEN.test(name)) throw new TypeError(`Cannot set header: "${name}" is not a valid header name`);
  if (LINE_BREAKING.test(value)) {
    throw new TypeError(`Cannot set header "${name}": its value contains CR, LF or NUL`);
  }
  return name.toLowerCase();
}
