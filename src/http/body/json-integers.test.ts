import { describe, expect, it } from "vitest";
import { unsafeIntegerPointer } from "./json-integers";

describe("unsafeIntegerPointer", () => {
  it("names the first integer literal beyond ±(2^53−1)", () => {
    expect(unsafeIntegerPointer('{"n":12345678901234567890}')).toBe("/n");
    expect(unsafeIntegerPointer('{"a":{"b":[1,2,9007199254740992]}}')).toBe("/a/b/2");
    expect(unsafeIntegerPointer('[{"x":1},{"y":[-9007199254740993]}]')).toBe("/1/y/0");
    expect(unsafeIntegerPointer('{"a/b~c":99999999999999999999}')).toBe("/a~1b~0c");
    expect(unsafeIntegerPointer('{"\\u0061":[[],{"k":"v"},123456789012345678]}')).toBe("/a/2");
    expect(unsafeIntegerPointer('{"first":"]}[{,","n" : 10000000000000000}')).toBe("/n");
  });

  it("takes safe integers, decimals, exponents and digits inside strings", () => {
    for (const text of [
      '{"n":9007199254740991,"m":-9007199254740991}',
      '{"x":0.1,"y":12345678901234567890.5,"z":6.02e23,"w":1E400}',
      '{"id":"12345678901234567890","12345678901234567890":1}',
      '{"s":"\\"12345678901234567890"}',
      "[]",
    ])
      expect(unsafeIntegerPointer(text), text).toBeUndefined();
  });
});
