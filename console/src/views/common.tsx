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
