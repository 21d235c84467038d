// Small pieces shared by the views.
import type { ComponentChildren } from "preact";
import { useRef, useState } from "preact/hooks";
import { describeProblem } from "../api";

export function When({ at }: { at?: string | undefined }) {
  if (!at) return <span>—</span>;
  return <time dateTime={at}>{new Date(at).toLocaleString()}</time>;
}

export function Status({ children }: { children: ComponentChildren }) {
  return (
    <p role="status" class="status">
      {children}
    </p>
  );
}

export function ErrorLine({ message }: { message?: string | undefined }) {
  return message ? (
    <p role="alert" class="error">
      {message}
    </p>
  ) : null;
}

export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    // biome-ignore lint/a11y/useAriaPropsSupportedByRole: the label names the JSON block for screen readers and the console tests
    <pre aria-label={label} class="json">
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** One column of a DataTable: its header and how a row fills its cell. */
export interface Column<T> {
  header: string;
  cell: (row: T) => ComponentChildren;
}

/**
 * The console's list table: a named table (so tests and screen readers find it by role and name), a header
 * row, one row per item, an optional last column of row actions, and a line instead when there is nothing.
 * Until the list was read once, that line says so: an empty list not read yet is "not known", never "none".
 */
export function DataTable<T>({
  label,
  rows,
  rowKey,
  columns,
  actions,
  loaded,
  empty = "Nothing yet.",
}: {
  label: string;
  rows: readonly T[];
  /** The list was read at least once (PagedList.loaded). */
  loaded: boolean;
  rowKey: (row: T) => string;
  columns: readonly Column<T>[];
  actions?: (row: T) => ComponentChildren;
  empty?: string;
}) {
  return (
    <table aria-label={label}>
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c.header} scope="col">
              {c.header}
            </th>
          ))}
          {actions && (
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          )}
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 ? (
          <tr>
            <td colSpan={columns.length + (actions ? 1 : 0)}>{loaded ? empty : "Not loaded yet."}</td>
          </tr>
        ) : (
          rows.map((row) => (
            <tr key={rowKey(row)}>
              {columns.map((c) => (
                <td key={c.header}>{c.cell(row)}</td>
              ))}
              {actions && <td>{actions(row)}</td>}
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

/** How many items a list view asks for at a time; the rest is one "Load more" away (the server's `next_cursor`). */
export const PAGE_SIZE = 50;

/** One page of a list operation: its items and, unless it is the last page, the cursor of the next one. */
export interface Page<T> {
  items: T[];
  next_cursor?: string | undefined;
}

/** What a view's page reader answers: a page, or the problem as one readable line. */
export type PageResult<T> = { page: Page<T> } | { error: string };

export interface PagedList<T> {
  items: T[];
  /** The cursor of the next page; undefined once the last page is loaded. */
  next: string | undefined;
  busy: boolean;
  /** A page was read at least once (before that, an empty `items` means "not known yet", not "none"). */
  loaded: boolean;
  error: string | undefined;
  /** Loads the first page again (after a change or with other filters), dropping the pages loaded so far. */
  reload(): Promise<void>;
  /** Appends the next page. */
  more(): Promise<void>;
  /** Changes loaded items in place (an item the operator just changed), keeping the pages loaded so far. */
  patch(change: (item: T) => T): void;
}

/** An openapi-fetch answer of a list operation as a page reader's result. */
export function pageResult<T>(answer: { data?: Page<T>; error?: unknown; response: Response }): PageResult<T> {
  return answer.data ? { page: answer.data } : { error: describeProblem(answer.error, answer.response.status) };
}

/**
 * A list read page by page through `next_cursor`: `reload` starts over, `more` appends the next page. A page that
 * arrives after a newer reload was asked for is dropped, so a slow answer never mixes two filters.
 */
export function usePagedList<T>(readPage: (cursor: string | undefined) => Promise<PageResult<T>>): PagedList<T> {
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string>();
  const generation = useRef(0);
  const read = async (cursor: string | undefined, append: boolean) => {
    const mine = append ? generation.current : ++generation.current;
    setBusy(true);
    const result = await readPage(cursor);
    if (mine !== generation.current) return;
    setBusy(false);
    if ("error" in result) return setError(result.error);
    setError(undefined);
    setLoaded(true);
    setItems((old) => (append ? [...old, ...result.page.items] : result.page.items));
    setNext(result.page.next_cursor);
  };
  return {
    items,
    next,
    busy,
    loaded,
    error,
    reload: () => read(undefined, false),
    more: () => (next ? read(next, true) : Promise.resolve()),
    patch: (change) => setItems((old) => old.map(change)),
  };
}

/** The next-page control under a list: shown while the server says there is more. */
export function LoadMore({ list, what }: { list: Pick<PagedList<unknown>, "next" | "busy" | "more">; what: string }) {
  if (!list.next) return null;
  return (
    <button type="button" class="load-more" disabled={list.busy} onClick={() => void list.more()}>
      {list.busy ? "Loading…" : `Load more ${what}`}
    </button>
  );
}
