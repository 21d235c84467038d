// What a string param carries besides its own text, which an upstream that decodes the string acts on: a mail message
// encoded in base64 (./encoded-messages.ts). ../extract.ts reads what this returns under the string's place
// (`params.raw (mail message)`), each string decoded at most once and the text decoded in all bounded (DecodeBudget).
import { type DecodeBudget, encodedMessageIn } from "./encoded-messages";

export type { DecodeBudget };

/** What a string param holds besides its own text: message texts, or why it cannot be read. */
export type Embedded = { label: string; params?: unknown; texts?: string[] } | { unreadable: string };

export function embeddedIn(text: string, budget: DecodeBudget): Embedded | undefined {
  if (text.length < 2) return undefined;
  const message = encodedMessageIn(text, budget);
  if (message !== undefined)
    return "unreadable" in message ? message : { label: " (mail message)", texts: message.texts };
  return undefined;
}
