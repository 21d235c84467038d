// A party name as a reader of Latin letters sees it, for the blocklist (in the spirit of Unicode TS #39's skeletons,
// for the letters that pass for Latin ones): `Еvil Corp` (a Cyrillic Е), `EvıL Corp` (a dotless ı), `Evi\u0301l Corp`
// (a combining accent) and `E\u200bvil Corp` (a zero-width space) all read `evil corp`. A name in another script
// keeps its letters (`ソニー株式会社`, `محمد‌رضا` without its joiner): it is compared as it is, never refused for its
// script, so an honest merchant in Tokyo or Tehran is not denied for being named in Japanese or Persian.

// Lower-case Cyrillic and Greek letters that read as Latin ones (upper case is folded first: Н reads as H, so н as h).
const LATIN_OF = new Map(
  "аa βb вb еe єe ѕs іi јj кk мm нh оo рp сc тt уy хx һh ԁd ԛq ԝw ӏl αa γy εe ιi κk νv οo ρp τt υu χx ωw ıi ɩi ȷj"
    .split(" ")
    .map((pair) => [...pair] as [string, string]),
);

// Combining marks (an accent drawn over the letter before it) and invisible format characters (joiners, zero-width
// spaces, bidi controls): neither changes which letters a reader sees.
const UNSEEN = /[\p{M}\p{Cf}]/u;

// Printable ASCII has no marks, no invisible characters and no look-alikes, and NFKD leaves it as it is: its
// skeleton is its lower case, without the walk over its characters (most names, now that descriptors are names too).
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/u;

/** `name` lower-cased, decomposed, without marks and invisible characters, its look-alike letters made Latin. */
export function latinSkeleton(name: string): string {
  if (PRINTABLE_ASCII.test(name)) return name.toLowerCase();
  let skeleton = "";
  for (const char of name.normalize("NFKD").toLowerCase()) {
    if (UNSEEN.test(char)) continue;
    skeleton += LATIN_OF.get(char) ?? char;
  }
  return skeleton;
}
