// Manifests: list, view one, suspend or activate it.
import { useEffect, useState } from "preact/hooks";
import { describeProblem, type Manifest, type Session } from "../api";
import { ErrorLine, Json, When } from "./common";

export function ManifestsView({ session }: { session: Session }) {
  const [items, setItems] = useState<Manifest[]>([]);
  const [selected, setSelected] = useState<Manifest>();
  const [error, setError] = useState<string>();
  const org = session.org;

  const load = async () => {
    const { data, error, response } = await session.client.GET("/api/v1/orgs/{org_id}/manifests", {
      params: { path: { org_id: org } },
    });
    if (!data) return setError(describeProblem(error, response.status));
    setItems(data.items);
  };
  useEffect(() => void load(), [session]);

  const change = async (manifest: Manifest, to: "suspend" | "activate") => {
    const path =
      to === "suspend"
        ? "/api/v1/orgs/{org_id}/manifests/{manifest_id}/suspend"
        : "/api/v1/orgs/{org_id}/manifests/{manifest_id}/activate";
    const { data, error, response } = await session.client.POST(path, {
      params: { path: { org_id: org, manifest_id: manifest.manifest_id } },
    });
    if (!data) return setError(describeProblem(error, response.status));
    setError(undefined);
    if (selected?.manifest_id === data.manifest_id) setSelected(data);
    await load();
  };

  return (
    <section aria-labelledby="manifests-title">
      <h2 id="manifests-title">Manifests</h2>
      <ErrorLine message={error} />
      <table aria-label="Manifests">
        <thead>
          <tr>
            <th scope="col">UAPK</th>
            <th scope="col">Agent</th>
            <th scope="col">Status</th>
            <th scope="col">Updated</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((m) => (
            <tr key={m.manifest_id}>
              <td>{m.uapk_id}</td>
              <td>{m.agent.name}</td>
              <td>{m.status}</td>
              <td>
                <When at={m.updated_at} />
              </td>
              <td>
                <button type="button" aria-label={`View ${m.uapk_id}`} onClick={() => setSelected(m)}>
                  View
                </button>
                {m.status === "active" && (
                  <button type="button" aria-label={`Suspend ${m.uapk_id}`} onClick={() => change(m, "suspend")}>
                    Suspend
                  </button>
                )}
                {m.status === "suspended" && (
                  <button type="button" aria-label={`Activate ${m.uapk_id}`} onClick={() => change(m, "activate")}>
                    Activate
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {selected && <Json label={`Manifest ${selected.uapk_id}`} value={selected} />}
    </section>
  );
}
