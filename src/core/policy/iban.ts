// An IBAN by its own rules (ISO 13616), whatever key it is under: its country's length in the IBAN registry and its
// mod-97 check digits. A value that passes both is an account at a bank of that country (`account_number`,
// ISO 20022's `CdtrAcct.Id.Othr.Id`, `creditor_account`); a tracking number, an order id or a local account number
// passes neither but by chance (one in 97, of the one length its first two letters would need).

// Country and IBAN length: SWIFT's IBAN registry, and the countries whose banks issue IBANs outside it (Iran, the
// francophone African banks' BBAN in IBAN form).
const LENGTHS = `AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27 DK18 DO28
EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HN28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30
KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29
PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 YE30 IR26
DZ26 AO25 BJ28 BF28 CM27 CV25 CF27 TD27 KM27 CG27 CI28 GQ27 GA27 GW25 MG27 ML28 MA28 MZ25 NE28 SN28 TG28`;

const LENGTH = new Map(LENGTHS.split(/\s+/u).map((entry) => [entry.slice(0, 2), Number(entry.slice(2))]));

/** The country of an IBAN written compact and in upper case (`IR82054…`), or undefined when it is none. */
export function ibanCountryChecked(compact: string): string | undefined {
  const country = compact.slice(0, 2);
  if (compact.length !== LENGTH.get(country) || !/^[A-Z]{2}\d{2}[A-Z0-9]+$/u.test(compact)) return undefined;
  return mod97(compact.slice(4) + compact.slice(0, 4)) === 1 ? country : undefined;
}

/** The remainder by 97 of the number a letter-and-digit text stands for, each letter as 10 to 35 (A to Z). */
function mod97(text: string): number {
  let rest = 0;
  for (const char of text) {
    const digit = Number.parseInt(char, 36);
    rest = digit > 9 ? (rest * 100 + digit) % 97 : (rest * 10 + digit) % 97;
  }
  return rest;
}
