// A company's name without its legal form: `Evil Corp Ltd`, `Evil Corp, Inc.`, `Evil Corp GmbH` and `EVIL CORP LLC`
// are the company a blocklist lists as `Evil Corp`. A payment names a merchant with its legal form as often as
// without, and a blocklist entry written without one must still hit it. Only trailing words that are a legal form
// and nothing else are dropped (one after another: `Evil Corp Pty Ltd`), never a word of the name itself. And the other
// way round: a blocklist entry written with its legal form, as sanctions lists write names (`Evil Corp Ltd`), is the
// company paid as `Evil Corp` or `Evil Corp GmbH` (entryWithoutLegalForms; allowlists stay as written).

/** Legal forms as words, lower case, their dots and spaces dropped (`L.L.C.` is `llc`, `S.A.` is `sa`). */
const LEGAL_FORMS = new Set([
  ...["ltd", "limited", "inc", "incorporated", "llc", "llp", "lp", "plc", "pllc", "pty", "pte", "pvt", "co", "corp"],
  ...["corporation", "company", "gmbh", "ag", "kg", "ug", "se", "sa", "sas", "sarl", "srl", "spa", "sl", "bv"],
  ...["nv", "oy", "oyj", "ab", "as", "asa", "a/s", "aps", "kk", "oü", "sp", "z", "oo", "kft", "sro", "doo", "ltda"],
  ...["cv", "sdn", "bhd", "ooo", "jsc", "pjsc", "ojsc", "cjsc", "ao", "zao", "oao", "pao", "tov", "ооо", "зао"],
  ...["оао", "пао", "ао"],
]);

// The legal forms that are also what a company is called (`Evil Corp`, `Acme Co`, `Rosneft Oil Company`): a
// blocklist entry keeps them (entryWithoutLegalForms), or `Evil Corp Ltd` would block every party named Evil.
const PART_OF_NAME = new Set(["co", "corp", "corporation", "company"]);

/** The separators a legal form follows in a name (`Evil Corp, Inc.`, `Evil Corp - Ltd`). */
const BEFORE_FORM = /[\s,;\-–—]+$/u;

/**
 * The name with its trailing legal forms dropped one by one (`Evil Corp Pty Ltd` → `Evil Corp Pty`, `Evil Corp`,
 * `Evil`: `Corp` is a legal form too, and what Evil Corp is to a reader of the list is Evil's corporation). Empty when
 * the name ends in none. Never the empty name: a name that is only legal forms keeps its first word.
 */
export function withoutLegalForms(name: string, keep?: ReadonlySet<string>): string[] {
  const stages: string[] = [];
  let rest = name.trim();
  for (let i = 0; i < MAX_FORMS; i++) {
    const space = Math.max(rest.lastIndexOf(" "), rest.lastIndexOf(","));
    if (space <= 0) break;
    const word = rest
      .slice(space + 1)
      .replace(/\./gu, "")
      .toLowerCase();
    if (!LEGAL_FORMS.has(word) || keep?.has(word)) break;
    rest = rest.slice(0, space).replace(BEFORE_FORM, "");
    if (rest === "") break;
    stages.push(rest);
  }
  return stages;
}

/** Legal forms dropped from one name at most (`Evil Corp Sp. z o.o.` holds three words of one). */
const MAX_FORMS = 5;

/**
 * A blocklist entry without its trailing legal forms, as sanctions lists write names (`Evil Corp Ltd`, `EVIL CORP
 * PTE. LTD.`): the company it names is paid as `Evil Corp`, `Evil Corp GmbH` or `Evil Corp Limited` too. Only down to
 * a form that is part of the name (PART_OF_NAME: `Evil Corp Ltd` → `Evil Corp`, never `Evil`).
 */
export const entryWithoutLegalForms = (entry: string): string[] => withoutLegalForms(entry, PART_OF_NAME);
