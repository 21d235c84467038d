// Moved to src/test-support/spec-check.ts (shared by every face's tests); kept so existing imports still work.
export { expectMatchesSpec } from "../../test-support/spec-check";
