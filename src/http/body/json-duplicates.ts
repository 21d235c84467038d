// Duplicate member names in a JSON body. JSON.parse keeps the last of `{"reason":"ok","reason":"…"}`, while a
// proxy, a log pipeline or a signing client may keep the first: one body, two meanings (RFC 8259 §4: names
// SHOULD be unique; I-JSON, RFC 7493 §2.3: MUST). Such a body is refused, naming the member. Names are compared
// after their escapes are read, so `"a"` and `"\u0061"` are one name, as JSON.parse takes them.

/**
 * The first member name that an object of `text` repeats, or undefined. `text` is JSON that JSON.parse accepted
 * (the scan relies on it: no error handling). Iterative: a deeply nested body cannot overflow the stack.
 */
export function duplicateMemberName(text: string): string | undefined {
  // One entry per open object or array: for an object, the names seen so far (none yet: undefined, one: that
  // name, more: a Set, made only on a third); null for an array. Most objects of a body allocate nothing here.
  const open: (Set<string> | string | null | undefined)[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      const top = open.length - 1;
      if (top >= 0 && open[top] !== null && isKey(text, end)) {
        const seen = open[top];
        const name = nameOf(text, i, end);
        if (seen === undefined) open[top] = name;
        else if (typeof seen === "string") {
          if (seen === name) return name;
          open[top] = new Set([seen, name]);
        } else if (seen.has(name)) return name;
        else seen.add(name);
      }
      i = end + 1;
      continue;
    }
    if (c === 0x7b /* { */) open.push(undefined);
    else if (c === 0x5b /* [ */) open.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) open.pop();
    i++;
  }
  return undefined;
}

/** A member name as an error shows it: quoted and escaped (no control characters), at most 64 characters. */
export function shownName(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

/** The index of the quote that closes the string opened at `start` (a quote after an odd run of \ is escaped). */
export function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  while (isEscaped(text, end)) end = text.indexOf('"', end + 1);
  return end;
}

function isEscaped(text: string, quote: number): boolean {
  let backslashes = 0;
  for (let j = quote - 1; text.charCodeAt(j) === 0x5c /* \ */; j--) backslashes++;
  return backslashes % 2 === 1;
}

/** A string is a member name when the next character after white space is a colon. */
export function isKey(text: string, end: number): boolean {
  let j = end + 1;
  let c = text.charCodeAt(j);
  while (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) c = text.charCodeAt(++j);
  return c === 0x3a /* : */;
}

/** The name as JSON.parse reads it (escapes decoded only when there are any: most names have none). */
export function nameOf(text: string, start: number, end: number): string {
  const raw = text.slice(start + 1, end);
  return raw.includes("\\") ? (JSON.parse(text.slice(start, end + 1)) as string) : raw;
}
