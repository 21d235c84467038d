// Purutos: the discovery face's local agent repositories; run one of a puruto's allowed commands and see its
// output. That face authenticates with an API key (scripts and agents), not the operator's token, so the key
// is asked for here and kept in memory only.
import { useState } from "preact/hooks";
import { createGatehouseClient } from "../../../generated/client";
import { describeProblem, type PurutoItem, type Session } from "../api";
import { ErrorLine, Json, LoadMore, pageResult, usePagedList } from "./common";

export function PurutosView(_props: { session: Session }) {
  const [apiKey, setApiKey] = useState("");
  const [listed, setListed] = useState(false);
  const [output, setOutput] = useState<{ label: string; value: unknown }>();
  const [error, setError] = useState<string>();
  const client = () => createGatehouseClient({ baseUrl: window.location.origin, apiKey });

  // Without `cursor` the server answers the whole list while it fits one answer; beyond that it pages.
  const list = usePagedList<PurutoItem>(async (cursor) =>
    pageResult(await client().GET("/purutos", { params: { query: cursor ? { cursor } : {} } })),
  );
  const load = async (e: Event) => {
    e.preventDefault();
    await list.reload();
    setListed(true);
  };
  const run = async (name: string, command: string) => {
    const { data, error, response } = await client().POST("/purutos/{name}/{command}", {
      params: { path: { name, command } },
      body: {},
    });
    setOutput({ label: `Output of ${name} ${command}`, value: data ?? error });
    setError(data ? undefined : describeProblem(error, response.status));
  };

  return (
    <section aria-labelledby="purutos-title">
      <h2 id="purutos-title">Purutos</h2>
      <form aria-label="Purutos access" onSubmit={load}>
        <label for="puruto-key">API key</label>
        <input
          id="puruto-key"
          type="password"
          autocomplete="off"
          value={apiKey}
          onInput={(e) => setApiKey(e.currentTarget.value)}
        />
        <button type="submit">List purutos</button>
      </form>
      <ErrorLine message={error ?? list.error} />
      {listed && (
        <ul aria-label="Purutos" class="purutos">
          {list.items.map((p) => (
            <li key={p.name}>
              <strong>{p.name}</strong> <span>{p.description ?? p.kind}</span>
              {/* biome-ignore lint/a11y/useSemanticElements: a fieldset would add a form border and legend; this is a toolbar-like group of buttons */}
              <div role="group" aria-label={`Commands of ${p.name}`}>
                {p.commands.map((c) => (
                  <button type="button" key={c} aria-label={`Run ${p.name} ${c}`} onClick={() => run(p.name, c)}>
                    {c}
                  </button>
                ))}
              </div>
            </li>
          ))}
        </ul>
      )}
      <LoadMore list={list} what="purutos" />
      {output && <Json label={output.label} value={output.value} />}
    </section>
  );
}
