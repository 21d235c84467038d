// A name as an upstream may read it: as sent, and once more percent-decoded (a server, or a proxy and a server,
// decoding twice reads `%5Fmethod` as `_method`). `+` is a space to form parsers.

/** The name as it is and, when it decodes to something else, once percent-decoded. */
export function decodedForms(name: string): string[] {
  let decoded = name;
  try {
    decoded = decodeURIComponent(name.replace(/\+/g, " "));
  } catch {
    // Not valid percent-encoding: no server decodes it to anything else.
  }
  return decoded === name ? [name] : [name, decoded];
}
