// Kept as the import path the faces use; the implementation is the boundary kit (./boundary).
export { HttpProblem, problem, type ProblemCode, type ProblemExtras, type ProblemItem } from "./boundary";
