// Moved to src/test-support/http.ts (shared by every face's end-to-end tests); kept so existing imports still work.
export * from "../../../test-support/http";
