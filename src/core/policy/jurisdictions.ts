// Jurisdictions are ISO 3166-1 alpha-2 codes. Whatever an agent or a manifest writes is normalised here first:
// folded like every policy value (NFKC, case, trim), then an alpha-2 code is kept, an alpha-3 code or an English
// country name is mapped to its alpha-2 code, and anything else is unknown (a jurisdiction policy fails closed
// on it). User-assigned codes (`XK`, `EU`…) are not ISO 3166-1 and are unknown too.
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

const words = TABLE.split(/\s+/u);
const ALPHA3_TO_2 = new Map<string, string>();
for (let i = 0; i + 1 < words.length; i += 2) ALPHA3_TO_2.set(words[i + 1] ?? "", words[i] ?? "");

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
  return NAMES.get(foldName(folded));
}
