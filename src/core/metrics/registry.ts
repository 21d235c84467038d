// One Prometheus registry for the process; every module registers its metrics here.
// Label sets stay small and bounded: never a session id, request id or user id as a label.
import { Registry, collectDefaultMetrics } from "prom-client";

export const registry = new Registry();
registry.setDefaultLabels({ service: "gatehouse" });
collectDefaultMetrics({ register: registry });
