// A name as an upstream may read it: as sent, and after each further percent-decoding, as proxies and servers may
// each decode again (`%5Fmethod` is `_method` to a chain decoding twice, `%255Fmethod` to one decoding three times).
// `+` is a space to form parsers.

/** Percent-decodings read through, for names as for path values (url-template.ts). */
export const MAX_PERCENT_DECODES = 5;

/**
 * The name as it is and each form it decodes to, until a decoding changes nothing, fails (not valid
 * percent-encoding: no server decodes it to anything else) or MAX_PERCENT_DECODES have been read.
 */
export function decodedForms(name: string): string[] {
  const forms = [name];
  for (let round = 0; round < MAX_PERCENT_DECODES; round += 1) {
    const last = forms[forms.length - 1] as string;
    let decoded: string;
    try {
      decoded = decodeURIComponent(last.replace(/\+/g, " "));
    } catch {
      break;
    }
    if (decoded === last) break;
    forms.push(decoded);
  }
  return forms;
}
