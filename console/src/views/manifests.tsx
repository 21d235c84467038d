// Manifests: list, view one, suspend or activate it.
import { useEffect, useState } from "preact/hooks";
import { describeProblem, type Manifest, type Session } from "../api";
import { type Column, DataTable, ErrorLine, Json, When } from "./common";

const COLUMNS: Column<Manifest>[] = [
  { header: "UAPK", cell: (m) => m.uapk_id },
  { header: "Agent", cell: (m) => m.agent.name },
  { header: "Status", cell: (m) => m.status },
  { header: "Updated", cell: (m) => <When at={m.updated_at} /> },
];

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
      <DataTable
        label="Manifests"
        rows={items}
        rowKey={(m) => m.manifest_id}
        columns={COLUMNS}
        empty="No manifest registered."
        actions={(m) => (
          <>
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
          </>
        )}
      />
      {selected && <Json label={`Manifest ${selected.uapk_id}`} value={selected} />}
    </section>
  );
}
