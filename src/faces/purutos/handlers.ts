// HTTP handlers of the discovery & commands face (operationIds Purutos_list, Purutos_get, Purutos_invoke).
// Authentication (X-API-Key → 401/503), the org check (./org.ts, a guard of the router: 403 before anything is
// read or validated) and request validation happen in the HTTP layer before these run.
import type { components } from "../../../generated/api-types";
import { type HandlerGroup, SerializedJson } from "../../http/handlers";
import { PAGE_BYTE_BUDGET, pageOf } from "../../http/paging";
import { HttpProblem } from "../../http/problem";
import { CommandsBusyError } from "./command-slots";
import type { Discovery, Puruto } from "./discovery";
import { CommandNotAllowedError, type Invoker, PurutoNotFoundError } from "./invoker";

type PurutoItem = components["schemas"]["PurutoItem"];
type PurutoList = components["schemas"]["PurutoList"];

/**
 * The list depends on the caller's API key (its org): no shared cache may serve it to another key, and a client
 * revalidates it with its ETag (304 while unchanged) rather than reuse it unasked.
 */
const LIST_CACHING = { "Cache-Control": "private, no-cache", Vary: "X-API-Key" };

export interface PurutosHandlerDeps {
  discovery: Discovery;
  invoker: Invoker;
}

export function purutosHandlers({ discovery, invoker }: PurutosHandlerDeps) {
  // The list only changes when discovery rebuilds its index (a new array): serialise it once per index and
  // serve the same bytes, with an ETag, until then.
  let listed: { purutos: Puruto[]; body: SerializedJson<PurutoList> } | undefined;
  const listBody = (purutos: Puruto[]) => {
    if (listed?.purutos !== purutos) {
      const items = purutos.map(toItem);
      listed = { purutos, body: new SerializedJson({ status: "ok", count: items.length, items }) };
    }
    return listed.body;
  };

  return {
    Purutos_list: async (req) => {
      const purutos = await discovery.list();
      // The whole list, as cached bytes with an ETag, while it is asked for whole and fits one page.
      if (req.query.limit === undefined && req.query.cursor === undefined) {
        const whole = listBody(purutos);
        if (whole.bytes.length <= PAGE_BYTE_BUDGET) return { status: 200, body: whole, headers: LIST_CACHING };
      }
      const page = pageOf(purutos.map(toItem), (item) => item.name, req.query);
      return { status: 200, body: { status: "ok", count: page.items.length, ...page }, headers: LIST_CACHING };
    },

    Purutos_get: async (req) => {
      const puruto = await discovery.get(req.params.name);
      if (!puruto) throw new HttpProblem(404, "Puruto no encontrado", { code: "PURUTO_NOT_FOUND" });
      return { status: 200, body: { status: "ok", item: toItem(puruto) } };
    },

    Purutos_invoke: async (req) => {
      try {
        const accepted = await invoker.invoke({
          name: req.params.name,
          command: req.params.command,
          payload: req.body ?? {},
          // The request id decided once at the boundary: the same in X-Request-Id, this envelope, logs and audit.
          requestId: req.requestId,
          correlationId: req.headers["x-correlation-id"],
          signal: req.signal,
        });
        return { status: 200, body: accepted };
      } catch (err) {
        if (err instanceof PurutoNotFoundError) {
          throw new HttpProblem(404, err.message, { code: err.code });
        }
        if (err instanceof CommandNotAllowedError) {
          throw new HttpProblem(400, err.message, {
            code: err.code,
            errors: [{ pointer: "/path/command", message: err.reason }],
          });
        }
        if (err instanceof CommandsBusyError) {
          throw new HttpProblem(503, err.message, {
            code: err.code,
            headers: { "Retry-After": String(err.retryAfterSeconds) },
          });
        }
        throw err;
      }
    },
  } satisfies HandlerGroup;
}

/** Domain puruto → the spec's sealed PurutoItem (only declared fields). */
export function toItem(puruto: Puruto): PurutoItem {
  const item: PurutoItem = {
    name: puruto.name,
    path: puruto.path,
    kind: puruto.kind,
    commands: puruto.commands,
    source: puruto.source,
    skills: puruto.skills.map((skill) => ({
      command: skill.command,
      name: skill.name,
      description: skill.description,
      user_invocable: skill.userInvocable,
      runnable: skill.runPath !== null,
    })),
  };
  if (puruto.description !== undefined) item.description = puruto.description;
  if (puruto.standardVersion !== undefined) item.standard_version = puruto.standardVersion;
  return item;
}
