/**
 * Edits of a raw query string (`?a=1&b=2`) that keep every parameter they do not touch byte for byte.
 * Re-serializing through URLSearchParams would turn `%20` into `+`, a valueless `flag` into `flag=` and a
 * malformed escape into U+FFFD for parameters nobody asked to change, and a backend that decodes `+`
 * literally or checks a signature over the query would then see something the client never sent.
 */

/** One compiled edit: `add` (only when absent), `set` (overwrite), `replace` (only when present), `remove`. */
export type QueryEdit =
  | { readonly kind: "add" | "set" | "replace"; readonly name: string; readonly pair: string }
  | { readonly kind: "remove"; readonly name: string };

/** A `name=value` pair encoded as a form would send it (what URLSearchParams writes). */
export function encodePair(name: string, value: string): string {
  return new URLSearchParams([[name, value]]).toString();
}

/** Applies `edits` in order to `query` ("" or starting with `?`); returns "" when nothing is left. */
export function editQuery(query: string, edits: readonly QueryEdit[]): string {
  const pairs = query.length > 1 ? query.slice(1).split("&") : [];
  const names = pairs.map(pairName);
  for (const edit of edits) {
    const first = names.indexOf(edit.name);
    if (first < 0) {
      if (edit.kind === "add" || edit.kind === "set") {
        pairs.push(edit.pair);
        names.push(edit.name);
      }
      continue;
    }
    if (edit.kind === "add") continue;
    // Drop every occurrence; `set` and `replace` then put one back where the first one was.
    for (let i = pairs.length - 1; i >= first; i--) {
      if (names[i] === edit.name) {
        pairs.splice(i, 1);
        names.splice(i, 1);
      }
    }
    if (edit.kind !== "remove") {
      pairs.splice(first, 0, edit.pair);
      names.splice(first, 0, edit.name);
    }
  }
  return pairs.length === 0 ? "" : `?${pairs.join("&")}`;
}

/** The decoded name of a raw pair (form rules: `+` is a space); the raw text when it is not valid. */
function pairName(pair: string): string {
  const eq = pair.indexOf("=");
  const raw = eq < 0 ? pair : pair.slice(0, eq);
  if (!raw.includes("%") && !raw.includes("+")) return raw;
  try {
    return decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    return raw;
  }
}
