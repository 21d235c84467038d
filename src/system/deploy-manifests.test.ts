// The deployment files as the tools render them — `docker-compose config` and `kubectl kustomize deploy/k8s`
// (Debian's packages, offline) — checked against the server itself: probe paths are the spec's /livez and
// /readyz, probe and service ports are the port the server listens on, every environment variable is one the
// configuration schema (CONFIG_VARIABLES) knows, the required ones are set, and the pods run non-root on a
// read-only root filesystem with a PDB, an HPA and a NetworkPolicy. Images cannot be built here; the
// Dockerfile is checked as text for the same facts.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { CONFIG_VARIABLES, loadConfig } from "../config";
import { purutosConfigFromEnv } from "../faces/purutos/config";
import { shouldRunToolTests } from "../test-support/tools";

const ROOT = resolve(import.meta.dirname, "../..");
const DEPLOY = resolve(ROOT, "deploy");
const OPENAPI_PATHS = Object.keys(
  (JSON.parse(readFileSync(resolve(ROOT, "generated/openapi.json"), "utf8")) as { paths: object }).paths,
);
const LIVENESS = "/livez";
const READINESS = "/readyz";

/** Variable names the configuration schema documents (GATEHOUSE_SECRET_* is a documented prefix). */
const KNOWN = new Set(CONFIG_VARIABLES.flatMap((v) => [v.name, ...(v.aliases ?? [])]));
const isKnownVariable = (name: string) => KNOWN.has(name) || /^GATEHOUSE_SECRET_[A-Z0-9_]+$/.test(name);
/** What a multi-node deployment cannot run without: a shared key and installation secret, and a bind address. */
const REQUIRED = ["HOST", "PORT", "PURUTO_GATEWAY_API_KEY", "GATEHOUSE_SECRET", "GATEHOUSE_DATA_DIR"];

function run(command: string, args: string[], env: Record<string, string> = {}): string {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, ...env } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed:\n${result.stderr}`);
  return result.stdout;
}

// biome-ignore lint/suspicious/noExplicitAny: rendered YAML, navigated by the assertions below
type Doc = any;

describe("the OpenAPI spec has the probe endpoints the manifests use", () => {
  it("documents /livez and /readyz", () => {
    expect(OPENAPI_PATHS).toEqual(expect.arrayContaining([LIVENESS, READINESS]));
  });
});

describe.runIf(shouldRunToolTests("compose manifest", "docker-compose", "apt-get install -y docker-compose"))(
  "deploy/compose.yaml as `docker-compose config` renders it",
  () => {
    const rendered: Doc = parse(
      run("docker-compose", ["-f", "deploy/compose.yaml", "config"], {
        PURUTO_GATEWAY_API_KEY: "compose-test-key",
        GATEHOUSE_SECRET: "compose-test-secret",
      }),
    );
    const services: Record<string, Doc> = rendered.services;
    const gateways = Object.entries(services).filter(([, s]) => s.build?.dockerfile === "deploy/Dockerfile");

    it("runs two gateway nodes, PostgreSQL, Redis and a load balancer", () => {
      expect(gateways.map(([name]) => name)).toEqual(["gateway-1", "gateway-2"]);
      expect(Object.keys(services)).toEqual(expect.arrayContaining(["postgres", "redis", "lb"]));
      expect(services.postgres.healthcheck.test.join(" ")).toContain("pg_isready");
      expect(services.redis.healthcheck.test.join(" ")).toContain("ping");
    });

    it.each(["gateway-1", "gateway-2"])(
      "%s: configuration the server accepts, shared state, probes on /readyz",
      (name) => {
        const gateway = services[name];
        const env: Record<string, string> = gateway.environment;
        expect(Object.keys(env).filter((v) => !isKnownVariable(v))).toEqual([]);
        expect(Object.keys(env)).toEqual(expect.arrayContaining([...REQUIRED, "DATABASE_URL", "REDIS_URL"]));
        const config = loadConfig(env);
        expect(config.host).toBe("0.0.0.0");
        // Shared state lives in the compose services, not in each node.
        expect(new URL(config.databaseUrl!).hostname).toBe("postgres");
        expect(new URL(config.redisUrl!).hostname).toBe("redis");
        expect(gateway.depends_on).toMatchObject({
          postgres: { condition: "service_healthy" },
          redis: { condition: "service_healthy" },
        });
        const check = gateway.healthcheck.test.join(" ");
        expect(check).toContain(`http://127.0.0.1:${config.port}${READINESS}`);
        expect(gateway.expose).toContain(String(config.port));
        expect(gateway).toMatchObject({ read_only: true, init: true });
        expect(gateway.tmpfs).toContain("/tmp");
        expect(
          gateway.volumes.map((v: { target?: string } | string) => (typeof v === "string" ? v : v.target)),
        ).toEqual(expect.arrayContaining([expect.stringContaining(config.dataDir)]));
      },
    );

    it("the load balancer waits for healthy nodes and routes only to ready ones", () => {
      expect(services.lb.depends_on).toMatchObject({
        "gateway-1": { condition: "service_healthy" },
        "gateway-2": { condition: "service_healthy" },
      });
      const haproxy = readFileSync(resolve(DEPLOY, "haproxy.cfg"), "utf8");
      expect(haproxy).toContain(`option httpchk GET ${READINESS}`);
      const port = loadConfig(services["gateway-1"].environment).port;
      for (const [name] of gateways) expect(haproxy).toMatch(new RegExp(`server ${name} ${name}:${port} check`));
    });
  },
);

describe.runIf(shouldRunToolTests("kubernetes manifests", "kubectl", "apt-get install -y kubectl"))(
  "deploy/k8s as `kubectl kustomize` renders it",
  () => {
    const docs: Doc[] = parseAllDocuments(run("kubectl", ["kustomize", "deploy/k8s"])).map((d) => d.toJSON());
    const one = (kind: string): Doc => {
      const found = docs.filter((d) => d.kind === kind);
      expect(found, kind).toHaveLength(1);
      return found[0];
    };
    const deployment = one("Deployment");
    const configMap = one("ConfigMap");
    const pod = deployment.spec.template.spec;
    const container = pod.containers.find((c: Doc) => c.name === "gatehouse");
    const serverConfig = loadConfig(configMap.data);
    const portNamed = (name: string | number) =>
      typeof name === "number" ? name : container.ports.find((p: Doc) => p.name === name)?.containerPort;

    it("has a Deployment, Service, ConfigMap, PodDisruptionBudget, HorizontalPodAutoscaler and NetworkPolicy", () => {
      for (const kind of ["Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"]) one(kind);
      expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    });

    it("probes hit the spec's /livez and /readyz on the port the server listens on", () => {
      expect(serverConfig.host).toBe("0.0.0.0");
      expect(portNamed("http")).toBe(serverConfig.port);
      expect(container.livenessProbe.httpGet.path).toBe(LIVENESS);
      expect(container.readinessProbe.httpGet.path).toBe(READINESS);
      for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
        expect(OPENAPI_PATHS).toContain(probe.httpGet.path);
        expect(portNamed(probe.httpGet.port)).toBe(serverConfig.port);
      }
      expect(container.resources.requests).toBeDefined();
      expect(container.resources.limits.memory).toBeDefined();
    });

    it("every environment variable is in the configuration schema, the required ones are set, secrets come from a Secret", () => {
      expect(container.envFrom).toContainEqual({ configMapRef: { name: configMap.metadata.name } });
      const names = [...Object.keys(configMap.data), ...container.env.map((e: Doc) => e.name)];
      expect(names.filter((n) => !isKnownVariable(n))).toEqual([]);
      expect(names).toEqual(expect.arrayContaining(REQUIRED));
      // The database and Redis too: replicas without them would each keep their own state on an emptyDir (R10).
      for (const secret of ["PURUTO_GATEWAY_API_KEY", "GATEHOUSE_SECRET", "DATABASE_URL", "REDIS_URL"]) {
        const entry = container.env.find((e: Doc) => e.name === secret);
        expect(entry?.valueFrom?.secretKeyRef?.key, secret).toBe(secret);
        expect(entry?.valueFrom?.secretKeyRef?.optional, secret).not.toBe(true);
        expect(configMap.data).not.toHaveProperty(secret);
      }
    });

    it("runs non-root on a read-only root filesystem, writing only to its data dir and /tmp", () => {
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(container.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
      });
      const mounts = container.volumeMounts.map((m: Doc) => m.mountPath);
      expect(mounts).toEqual(expect.arrayContaining([serverConfig.dataDir, "/tmp"]));
      // SIGTERM drains for GATEHOUSE_SHUTDOWN_TIMEOUT_MS: Kubernetes must wait longer before SIGKILL.
      expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(serverConfig.shutdownTimeoutMs);
    });

    it("the Service, PDB, HPA and NetworkPolicy point at these pods and this port", () => {
      const labels = deployment.spec.template.metadata.labels;
      const service = one("Service");
      expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
      expect(portNamed(service.spec.ports[0].targetPort)).toBe(serverConfig.port);
      const pdb = one("PodDisruptionBudget");
      expect(labels).toMatchObject(pdb.spec.selector.matchLabels);
      expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
      const hpa = one("HorizontalPodAutoscaler");
      expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: deployment.metadata.name });
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
      const policy = one("NetworkPolicy");
      expect(labels).toMatchObject(policy.spec.podSelector.matchLabels);
      expect(policy.spec.ingress.flatMap((r: Doc) => r.ports.map((p: Doc) => p.port))).toContain(serverConfig.port);
    });
  },
);

describe("deploy/Dockerfile", () => {
  const dockerfile = readFileSync(resolve(DEPLOY, "Dockerfile"), "utf8");
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));

  it("runs the built server as a non-root user under an init, with a HEALTHCHECK on /livez", () => {
    expect(finalStage).toMatch(/^USER (?!root\b|0\b)\S+/m);
    expect(finalStage).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]/m);
    expect(finalStage).toMatch(/^CMD \["node", "dist\/main\.js"\]/m);
    expect(finalStage).toContain(LIVENESS);
    expect(finalStage).toMatch(/^HEALTHCHECK /m);
    // The image carries the console and only production dependencies.
    expect(finalStage).toContain("COPY --from=build /app/console/dist ./console/dist");
    expect(dockerfile).toContain("npm prune --omit=dev");
    const env = loadConfig(Object.fromEntries([...finalStage.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]])));
    expect(finalStage).toMatch(new RegExp(`^EXPOSE ${env.port}$`, "m"));
  });

  it("discovers purutos in a folder of their own, never by scanning the image's root filesystem", () => {
    const env = Object.fromEntries([...finalStage.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    const workdir = finalStage.match(/^WORKDIR (\S+)$/m)?.[1];
    // The default (the parent of the working directory /app) would be `/`.
    expect(purutosConfigFromEnv(env, workdir).ecosystemRoots).toEqual(["/purutos"]);
    expect(finalStage).toMatch(/^RUN mkdir -p [^\n]*\/purutos\b/m);
  });
});
