// The ASCII fast paths of ./normalize.ts (no NFKC, no look-alike analysis on printable ASCII) and of ./extract.ts
// (a key already spelt [a-z0-9] is its own folded form) skip work that cannot change the answer. These tests
// hold the reasons true over all of ASCII, so a change of Unicode data or of the rules shows up here.
import { describe, expect, it } from "vitest";
import { foldKey } from "./extract";
import { latinSkeleton } from "./name-skeleton";
import { normalizeRecipients, normalizeValue, scriptsOf } from "./normalize";

const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));
const ALL_ASCII = Array.from({ length: 0x80 }, (_, i) => String.fromCharCode(i));

describe("printable ASCII needs neither NFKC nor the look-alike analysis", () => {
  it("NFKC leaves every printable ASCII character, and every pair of them, unchanged", () => {
    const changed = PRINTABLE.flatMap((a) => PRINTABLE.map((b) => a + b)).filter((s) => s.normalize("NFKC") !== s);
    expect(changed).toEqual([]);
  });

  it("no ASCII character is invisible (\\p{Cf}), and every ASCII letter is Latin", () => {
    expect(ALL_ASCII.filter((c) => /\p{Cf}/u.test(c))).toEqual([]);
    expect(scriptsOf(ALL_ASCII.join(""))).toEqual(["Latin"]);
    expect(scriptsOf("0123456789-_.@+")).toEqual([]);
  });

  it("ASCII values keep the rules that do apply to them: case, dots, separators, '@'", () => {
    expect(normalizeValue("Ann@ACME.com..")).toEqual({
      raw: "Ann@ACME.com..",
      whole: "ann@acme.com",
      parts: [{ ok: true, value: "ann@acme.com" }],
    });
    expect(normalizeRecipients("a@acme.com\u0007b@evil.io\u007fc@x.io")).toEqual([
      { ok: true, value: "a@acme.com" },
      { ok: true, value: "b@evil.io" },
      { ok: true, value: "c@x.io" },
    ]);
    expect(normalizeRecipients("x@evil.io@acme.com")[0]).toMatchObject({
      ok: false,
      reason: "contains more than one '@'",
    });
    expect(normalizeRecipients("ann@")[0]).toMatchObject({ ok: false, reason: "is not a well-formed address" });
  });
});

describe("param keys", () => {
  const slowFold = (key: string) =>
    key
      .normalize("NFKC")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}]/gu, "");

  it("a key of [a-z0-9] is its own folded form, so foldKey returns it as is", () => {
    const folded = [..."abcdefghijklmnopqrstuvwxyz0123456789"];
    expect(folded.filter((c) => slowFold(c) !== c)).toEqual([]);
  });

  it("folds every other ASCII key as NFKC, lower case and the letter/digit filter do", () => {
    for (const c of ALL_ASCII) expect(foldKey(`E_${c}Mail`)).toBe(slowFold(`E_${c}Mail`));
    expect(foldKey("Email_Address")).toBe("emailaddress");
    expect(foldKey("ＴＯ")).toBe("to");
  });
});

describe("a printable ASCII name's Latin skeleton is its lower case", () => {
  it("the character walk (taken for any name with a non-ASCII character) reads each one as its lower case", () => {
    // `é` sends the name down the walk (NFKD, marks dropped, look-alikes mapped), where it reads `e`.
    const differing = PRINTABLE.filter((c) => latinSkeleton(`${c}\u00e9`) !== `${c.toLowerCase()}e`);
    expect(differing).toEqual([]);
    expect(latinSkeleton("ACME* Evil Corp")).toBe("acme* evil corp");
  });
});
