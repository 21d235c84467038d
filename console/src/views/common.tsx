// Small pieces shared by the views.
import type { ComponentChildren } from "preact";

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
 */
export function DataTable<T>({
  label,
  rows,
  rowKey,
  columns,
  actions,
  empty = "Nothing yet.",
}: {
  label: string;
  rows: readonly T[];
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
            <td colSpan={columns.length + (actions ? 1 : 0)}>{empty}</td>
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
