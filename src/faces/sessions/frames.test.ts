// The handler maps and the schemas come from the same spec; this checks they agree, so every frame the
// validators accept on a route reaches a handler (and no handler waits for a type the spec does not have).
import { describe, expect, it } from "vitest";
import { ideFrameHandlers } from "./ide-inbound";
import { runtimeFrameHandlers } from "./runtime-inbound";
import { loadMessageValidators } from "./schemas";

describe("frame handler maps", () => {
  it("handle exactly the message types the spec accepts from the IDE and from the runtime", async () => {
    const validators = await loadMessageValidators();
    expect(Object.keys(ideFrameHandlers).sort()).toEqual([...validators.types("ide_in")].sort());
    expect(Object.keys(runtimeFrameHandlers).sort()).toEqual([...validators.types("runtime_in")].sort());
  });
});
