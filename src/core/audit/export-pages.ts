// The audit export as a stream: the org's records page by page, then the signed head, for GET …/interactions/
// export. Built whole, an export of a long chain held every line in memory at once and read the chain in one
// synchronous pass that stopped every other request (better-sqlite3) for as long as it took; page by page, with a
// turn of the event loop between pages, it costs one page of memory and never a long pause.
import { setImmediate as nextTurn } from "node:timers/promises";
import { canonicalJson } from "./canonical";
import type { ChainHead } from "./chain-head";
import { printableJson } from "./printable";
import type { AuditRecord } from "./record";

/** Records per page: about 1.6 MB of lines for intent records with their policy trace. */
export const EXPORT_PAGE_RECORDS = 1_000;

/** Up to `limit` records of the chain from `fromSeq` on, in chain order. */
export type ChainPage = (fromSeq: number, limit: number) => AuditRecord[] | Promise<AuditRecord[]>;

/**
 * The chain from `fromSeq` up to `head`, a page at a time, with a turn of the event loop between pages: one page
 * of memory and never a long pause, however long the chain (the export, an evidence bundle's proof).
 */
export async function* chainPages(
  fromSeq: number,
  head: Pick<ChainHead, "seq">,
  page: ChainPage,
): AsyncGenerator<AuditRecord[]> {
  let next = fromSeq;
  while (next <= head.seq) {
    const records = await page(next, Math.min(EXPORT_PAGE_RECORDS, head.seq - next + 1));
    const last = records.at(-1);
    if (!last) return; // nothing from `next` on (a chain has no gaps): the verifier will say what is missing
    yield records;
    next = last.seq + 1;
    await nextTurn();
  }
}

/**
 * Canonical JSON (RFC 8785) per line — `audit verify` refuses any line that is not exactly that or its printableJson
 * — with its control, format and separator characters written as `\uXXXX` (printableJson, as `gatehouse audit
 * export` prints it): an agent's U+009B (a terminal's CSI) or U+202E does not act on the terminal a `curl` of the
 * export is printed to, and U+2028/U+0085 do not split a record for a reader breaking lines on them. Up to the head,
 * which is signed before the first page is read and ends the export: records appended meanwhile are not part of
 * it, and a cut tail shows. Records never change once written, so the pages read at different moments fit.
 */
export async function* exportJsonlPages(head: ChainHead, page: ChainPage): AsyncGenerator<string> {
  for await (const records of chainPages(1, head, page)) {
    yield printableJson(records.map((record) => `${canonicalJson(record)}\n`).join(""));
  }
  yield `${printableJson(canonicalJson({ chain_head: head }))}\n`;
}
