// What a thrown error answers: a database that cut the connection or timed out a lock is a 503 to retry, even
// when it answers the readiness ping again by the time anyone looks; a bug stays a 500.
import { describe, expect, it } from "vitest";
import { toProblem } from "./errors";

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe("toProblem", () => {
  it.each([
    ["a terminated backend", pgError("57P01", "terminating connection due to administrator command")],
    ["an idle transaction ended", pgError("25P03", "terminating connection due to idle-in-transaction timeout")],
    ["a lock timeout", pgError("55P03", "canceling statement due to lock timeout")],
    ["a connection exception", pgError("08006", "connection failure")],
    ["a connection cut under node-postgres", new Error("Connection terminated unexpectedly")],
    ["a query timeout of node-postgres", new Error("Query read timeout")],
  ])("%s → 503 DATABASE_UNAVAILABLE", (_, err) => {
    expect(toProblem(err)).toMatchObject({ status: 503, code: "DATABASE_UNAVAILABLE" });
  });

  it("a constraint violation or a bug stays a 500 (nothing says a retry would do better)", () => {
    expect(toProblem(pgError("23505", "duplicate key value"))).toMatchObject({ status: 500, code: "INTERNAL_ERROR" });
    expect(toProblem(new TypeError("x is undefined"))).toMatchObject({ status: 500, code: "INTERNAL_ERROR" });
  });

  it("text PostgreSQL cannot store (NUL) that reached it is the request's 400, not a 500", () => {
    for (const code of ["22021", "22P05"])
      expect(toProblem(pgError(code, 'invalid byte sequence for encoding "UTF8": 0x00'))).toMatchObject({
        status: 400,
        code: "VALIDATION_FAILED",
        extras: { errors: [{ pointer: "/body" }] },
      });
  });
});
