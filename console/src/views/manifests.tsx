// Manifests: list, view one, suspend or activate it.
import { useEffect, useState } from "preact/hooks";
import { describeProblem, type Manifest, type Session } from "../api";
import { type Column, DataTable, ErrorLine, Json, LoadMore, PAGE_SIZE, pageResult, usePagedList, When } from "./common";

const COLUMNS: Column<Manifest>[] = [
  { header: "UAPK", cell: (m) => m.uapk_id },
  { header: "Agent", cell: (m) => m.agent.name },
  { header: "Status", cell: (m) => m.status },
  { header: "Updated", cell: (m) => <When at={m.updated_at} /> },
];

export function ManifestsView({ session }: { session: Session }) {
  const [selected, setSelected] = useState<Manifest>();
  const [error, setError] = useState<string>();
  const org = session.org;
  const list = usePagedList<Manifest>(async (cursor) =>
    pageResult(
      await session.client.GET("/api/v1/orgs/{org_id}/manifests", {
        params: { path: { org_id: org }, query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
      }),
    ),
  );
  useEffect(() => void list.reload(), [session]);

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
    // In place: a manifest on a later page stays where the operator found it.
    list.patch((m) => (m.manifest_id === data.manifest_id ? data : m));
  };

  return (
    <section aria-labelledby="manifests-title">
      <h2 id="manifests-title">Manifests</h2>
      <ErrorLine message={error ?? list.error} />
      <DataTable
        label="Manifests"
        rows={list.items}
        loaded={list.loaded}
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
      <LoadMore list={list} what="manifests" />
      {selected && <Json label={`Manifest ${selected.uapk_id}`} value={selected} />}
    </section>
  );
}
