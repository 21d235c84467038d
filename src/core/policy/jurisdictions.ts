// Jurisdictions are ISO 3166-1 alpha-2 codes. Whatever an agent or a manifest writes is normalised here first:
// folded like every policy value (NFKC, case, trim), then an alpha-2 code is kept, an alpha-3 code, an ISO 3166-1
// numeric code or an English country name is mapped to its alpha-2 code, and anything else is unknown (a
// jurisdiction policy fails closed on it). User-assigned codes (`XK`, `EU`…) are not ISO 3166-1 and are unknown too.
import { foldText } from "./normalize";

// alpha-2 alpha-3, the 249 officially assigned ISO 3166-1 entries.
const TABLE = `AF AFG AX ALA AL ALB DZ DZA AS ASM AD AND AO AGO AI AIA AQ ATA AG ATG AR ARG AM ARM AW ABW AU AUS AT AUT
AZ AZE BS BHS BH BHR BD BGD BB BRB BY BLR BE BEL BZ BLZ BJ BEN BM BMU BT BTN BO BOL BQ BES BA BIH BW BWA BV BVT BR BRA
IO IOT BN BRN BG BGR BF BFA BI BDI CV CPV KH KHM CM CMR CA CAN KY CYM CF CAF TD TCD CL CHL CN CHN CX CXR CC CCK CO COL
KM COM CG COG CD COD CK COK CR CRI CI CIV HR HRV CU CUB CW CUW CY CYP CZ CZE DK DNK DJ DJI DM DMA DO DOM EC ECU EG EGY
SV SLV GQ GNQ ER ERI EE EST SZ SWZ ET ETH FK FLK FO FRO FJ FJI FI FIN FR FRA GF GUF PF PYF TF ATF GA GAB GM GMB GE GEO
DE DEU GH GHA GI GIB GR GRC GL GRL GD GRD GP GLP GU GUM GT GTM GG GGY GN GIN GW GNB GY GUY HT HTI HM HMD VA VAT HN HND
HK HKG HU HUN IS ISL IN IND ID IDN IR IRN IQ IRQ IE IRL IM IMN IL ISR IT ITA JM JAM JP JPN JE JEY JO JOR KZ KAZ KE KEN
KI KIR KP PRK KR KOR KW KWT KG KGZ LA LAO LV LVA LB LBN LS LSO LR LBR LY LBY LI LIE LT LTU LU LUX MO MAC MG MDG MW MWI
MY MYS MV MDV ML MLI MT MLT MH MHL MQ MTQ MR MRT MU MUS YT MYT MX MEX FM FSM MD MDA MC MCO MN MNG ME MNE MS MSR MA MAR
MZ MOZ MM MMR NA NAM NR NRU NP NPL NL NLD NC NCL NZ NZL NI NIC NE NER NG NGA NU NIU NF NFK MK MKD MP MNP NO NOR OM OMN
PK PAK PW PLW PS PSE PA PAN PG PNG PY PRY PE PER PH PHL PN PCN PL POL PT PRT PR PRI QA QAT RE REU RO ROU RU RUS RW RWA
BL BLM SH SHN KN KNA LC LCA MF MAF PM SPM VC VCT WS WSM SM SMR ST STP SA SAU SN SEN RS SRB SC SYC SL SLE SG SGP SX SXM
SK SVK SI SVN SB SLB SO SOM ZA ZAF GS SGS SS SSD ES ESP LK LKA SD SDN SR SUR SJ SJM SE SWE CH CHE SY SYR TW TWN TJ TJK
TZ TZA TH THA TL TLS TG TGO TK TKL TO TON TT TTO TN TUN TR TUR TM TKM TC TCA TV TUV UG UGA UA UKR AE ARE GB GBR US USA
UM UMI UY URY UZ UZB VU VUT VE VEN VN VNM VG VGB VI VIR WF WLF EH ESH YE YEM ZM ZMB ZW ZWE`;

// alpha-2 with its numeric code (ISO 3166-1 numeric, UN M49), the same 249 entries: card networks (ISO 8583's
// country codes) and some banking APIs write `country_code: "840"`, and `408` is North Korea as surely as `KP`.
const NUMERIC = `AF004 AX248 AL008 DZ012 AS016 AD020 AO024 AI660 AQ010 AG028 AR032 AM051 AW533 AU036 AT040 AZ031
BS044 BH048 BD050 BB052 BY112 BE056 BZ084 BJ204 BM060 BT064 BO068 BQ535 BA070 BW072 BV074 BR076 IO086 BN096 BG100
BF854 BI108 CV132 KH116 CM120 CA124 KY136 CF140 TD148 CL152 CN156 CX162 CC166 CO170 KM174 CG178 CD180 CK184 CR188
CI384 HR191 CU192 CW531 CY196 CZ203 DK208 DJ262 DM212 DO214 EC218 EG818 SV222 GQ226 ER232 EE233 SZ748 ET231 FK238
FO234 FJ242 FI246 FR250 GF254 PF258 TF260 GA266 GM270 GE268 DE276 GH288 GI292 GR300 GL304 GD308 GP312 GU316 GT320
GG831 GN324 GW624 GY328 HT332 HM334 VA336 HN340 HK344 HU348 IS352 IN356 ID360 IR364 IQ368 IE372 IM833 IL376 IT380
JM388 JP392 JE832 JO400 KZ398 KE404 KI296 KP408 KR410 KW414 KG417 LA418 LV428 LB422 LS426 LR430 LY434 LI438 LT440
LU442 MO446 MG450 MW454 MY458 MV462 ML466 MT470 MH584 MQ474 MR478 MU480 YT175 MX484 FM583 MD498 MC492 MN496 ME499
MS500 MA504 MZ508 MM104 NA516 NR520 NP524 NL528 NC540 NZ554 NI558 NE562 NG566 NU570 NF574 MK807 MP580 NO578 OM512
PK586 PW585 PS275 PA591 PG598 PY600 PE604 PH608 PN612 PL616 PT620 PR630 QA634 RE638 RO642 RU643 RW646 BL652 SH654
KN659 LC662 MF663 PM666 VC670 WS882 SM674 ST678 SA682 SN686 RS688 SC690 SL694 SG702 SX534 SK703 SI705 SB090 SO706
ZA710 GS239 SS728 ES724 LK144 SD729 SR740 SJ744 SE752 CH756 SY760 TW158 TJ762 TZ834 TH764 TL626 TG768 TK772 TO776
TT780 TN788 TR792 TM795 TC796 TV798 UG800 UA804 AE784 GB826 US840 UM581 UY858 UZ860 VU548 VE862 VN704 VG092 VI850
WF876 EH732 YE887 ZM894 ZW716`;

const words = TABLE.split(/\s+/u);
const ALPHA3_TO_2 = new Map<string, string>();
for (let i = 0; i + 1 < words.length; i += 2) ALPHA3_TO_2.set(words[i + 1] ?? "", words[i] ?? "");

const NUMERIC_TO_2 = new Map<string, string>();
for (const entry of NUMERIC.split(/\s+/u)) NUMERIC_TO_2.set(entry.slice(2), entry.slice(0, 2));

/** The ISO 3166-1 alpha-2 codes. */
export const ALPHA2_CODES: ReadonlySet<string> = new Set(ALPHA3_TO_2.values());

// English names (as Node's ICU writes them, folded) plus a few names people commonly write.
const NAMES = new Map<string, string>();
const english = new Intl.DisplayNames(["en"], { type: "region", fallback: "none" });
for (const code of ALPHA2_CODES) {
  const name = english.of(code);
  if (name) NAMES.set(foldName(name), code);
}
for (const [name, code] of Object.entries({
  "united states of america": "US",
  usa: "US",
  america: "US",
  "great britain": "GB",
  britain: "GB",
  "north korea": "KP",
  "south korea": "KR",
  russia: "RU",
  "russian federation": "RU",
  iran: "IR",
  syria: "SY",
  "czech republic": "CZ",
  holland: "NL",
  "the netherlands": "NL",
  turkey: "TR",
  "ivory coast": "CI",
}))
  NAMES.set(name, code);

// Codes ISO reserved for a country on request, commonly written instead of its alpha-2 code.
const EXCEPTIONALLY_RESERVED = new Map([["UK", "GB"]]);

function foldName(name: string): string {
  return foldText(name)
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

/** The alpha-2 code a written jurisdiction stands for, or undefined when it names no ISO 3166-1 country. */
export function normalizeJurisdiction(raw: string): string | undefined {
  const folded = foldText(raw);
  const upper = folded.toUpperCase();
  if (/^[A-Z]{2}$/u.test(upper)) return ALPHA2_CODES.has(upper) ? upper : EXCEPTIONALLY_RESERVED.get(upper);
  if (/^[A-Z]{3}$/u.test(upper)) return ALPHA3_TO_2.get(upper);
  // A numeric code as written or as a JSON number (`4`, `"004"`: Afghanistan).
  if (/^\d{1,3}$/u.test(upper)) return NUMERIC_TO_2.get(upper.padStart(3, "0"));
  return NAMES.get(foldName(folded));
}
