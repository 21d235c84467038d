// What decisions derive from a manifest's lists is derived once per frozen list (./list-cache.ts). A stale entry
// would judge an action by a list that no longer applies: these tests pin down when an entry may be reused.
import { describe, expect, it } from "vitest";
import { perList } from "./list-cache";

function counted() {
  let calls = 0;
  const derive = perList((list) => {
    calls++;
    return list.join("|");
  });
  return { derive, calls: () => calls };
}

describe("perList", () => {
  it("derives a frozen list once", () => {
    const { derive, calls } = counted();
    const list = Object.freeze(["a", "b"]);
    expect(derive(list)).toBe("a|b");
    expect(derive(list)).toBe("a|b");
    expect(calls()).toBe(1);
  });

  it("derives an equal but different list anew (a new manifest version is a new object)", () => {
    const { derive, calls } = counted();
    expect(derive(Object.freeze(["a"]))).toBe("a");
    expect(derive(Object.freeze(["a", "c"]))).toBe("a|c");
    expect(calls()).toBe(2);
  });

  it("never keeps what it derived from a list that is not frozen: a change in place is seen", () => {
    const { derive, calls } = counted();
    const list = ["a"];
    expect(derive(list)).toBe("a");
    list.push("b");
    expect(derive(list)).toBe("a|b");
    expect(calls()).toBe(2);
  });
});
