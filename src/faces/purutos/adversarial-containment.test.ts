// Adversarial: a puruto cannot make Gatehouse read anything outside its folder — not the data folder's
// secret, not /etc — through a symlinked README, version file, SKILL.md, .env.example or registry.json.
import { execFileSync } from "node:child_process";
import { constants } from "node:fs";
import { mkdir, mkdtemp, open, readFile, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readContained } from "./containment";
import { createDiscovery } from "./discovery";
import { createInvoker } from "./invoker";
import { readRegistry } from "./registry";
import { envStatus, MAX_SKILLS, readRepo } from "./repo";
import { testConfig } from "./testing";

const SECRET = "gatehouse-data-secret-0123456789";

async function ecosystem() {
  const root = await realpath(await mkdtemp(path.join(tmpdir(), "gh-contain-")));
  const data = path.join(root, "puruto-data");
  await mkdir(data);
  await writeFile(path.join(data, "secret.key"), SECRET);
  const puruto = path.join(root, "puruto-evil");
  await mkdir(path.join(puruto, ".claude", "skills", "leak"), { recursive: true });
  return { root, data, puruto, secret: path.join(data, "secret.key") };
}

describe("every puruto file read is contained", () => {
  it("refuses README, version file, SKILL.md and .env.example symlinked to the data folder's secret", async () => {
    const { puruto, secret } = await ecosystem();
    await symlink(secret, path.join(puruto, "README.md"));
    await symlink(secret, path.join(puruto, ".puruto-standard-version"));
    await symlink(secret, path.join(puruto, ".claude", "skills", "leak", "SKILL.md"));
    await symlink(secret, path.join(puruto, ".env.example"));
    const repo = await readRepo(puruto);
    expect(JSON.stringify(repo)).not.toContain(SECRET);
    expect(repo.description).toBeUndefined();
    expect(repo.standardVersion).toBeUndefined();
    expect(repo.skills).toEqual([]);
    const env = await envStatus(puruto);
    expect(env.example_present).toBe(false);
  });

  it("refuses a symlinked directory that leads out, but reads a symlink that stays inside", async () => {
    const { puruto, data } = await ecosystem();
    await symlink(data, path.join(puruto, "docs"));
    expect(await readContained(puruto, path.join(puruto, "docs", "secret.key"), 1024)).toEqual({
      ok: false,
      reason: "outside",
    });
    await writeFile(path.join(puruto, "real.md"), "inside");
    await symlink(path.join(puruto, "real.md"), path.join(puruto, "alias.md"));
    expect(await readContained(puruto, path.join(puruto, "alias.md"), 1024)).toMatchObject({
      ok: true,
      text: "inside",
    });
  });

  it("refuses a registry.json that is a symlink out of the data folder", async () => {
    const { root, data } = await ecosystem();
    const elsewhere = path.join(root, "elsewhere.json");
    await writeFile(elsewhere, JSON.stringify({ purutos: [{ name: "x", path: "/" }] }));
    await symlink(elsewhere, path.join(data, "registry.json"));
    const read = await readRegistry(path.join(data, "registry.json"));
    expect(read.entries).toEqual([]);
    expect(read.problems.join(" ")).toContain("outside");
    expect(await readFile(elsewhere, "utf8")).toContain("purutos"); // the file exists; it was refused, not missed
  });

  it("a FIFO named README.md, SKILL.md, .env.example or registry.json never hangs discovery or a command", async () => {
    const { root, data, puruto } = await ecosystem();
    const fifos = [
      path.join(puruto, "README.md"),
      path.join(puruto, ".puruto-standard-version"),
      path.join(puruto, ".claude", "skills", "leak", "SKILL.md"),
      path.join(puruto, ".env.example"),
      path.join(data, "registry.json"),
    ];
    for (const fifo of fifos) execFileSync("mkfifo", [fifo]);
    const config = testConfig({ ecosystemRoot: root, dataPath: data });
    const discovery = createDiscovery(config, { watch: false });
    try {
      const within = <T>(work: Promise<T>) =>
        Promise.race([work, new Promise((resolve) => setTimeout(() => resolve("hung 3 s"), 3_000).unref())]);
      // open() used to wait for a writer: the build never ended and every list, get and /health hung.
      const names = await within(discovery.list().then((items) => items.map((i) => i.name)));
      expect(names).toEqual(["puruto-data", "puruto-evil"]);
      const status = await within(createInvoker(config, discovery).invoke({ name: "puruto-evil", command: "status" }));
      expect(status).toMatchObject({ invocation: { status: "ok", result: { env: { example_present: false } } } });
      expect((await discovery.snapshot()).problems.join(" ")).toContain("registry.json");
    } finally {
      discovery.close();
      // Release any reader still blocked on a FIFO, so a failing run does not hang the worker.
      for (const fifo of fifos)
        await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).then(
          (h) => h.close(),
          () => {},
        );
    }
  });
});

describe("a puruto with very many skills", () => {
  it(`reads its first ${MAX_SKILLS} skills even with few file descriptors free, and says the rest were not read`, async () => {
    const { root, puruto } = await ecosystem();
    await rm(path.join(puruto, ".claude", "skills", "leak"), { recursive: true });
    for (let i = 0; i < MAX_SKILLS + 5; i++) {
      const skill = `s${String(i).padStart(4, "0")}`;
      const dir = path.join(puruto, ".claude", "skills", skill);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, "SKILL.md"), `---\nname: ${skill}\ndescription: skill ${i}\n---\n`);
    }
    // The read in a process allowed 128 descriptors: opening every SKILL.md at once failed with EMFILE there (and
    // in a gateway with a larger limit, for enough skills), dropping skills without a word.
    const script = path.join(root, "read.mts");
    const repoModule = path.join(import.meta.dirname, "repo.ts");
    await writeFile(
      script,
      `import { readRepo } from ${JSON.stringify(repoModule)};\n` +
        `const repo = await readRepo(${JSON.stringify(puruto)});\n` +
        "console.log(JSON.stringify({ skills: repo.skills.length, problems: repo.problems }));\n",
    );
    const output = execFileSync("sh", ["-c", 'ulimit -n 128 && exec node --import tsx "$0"', script], {
      cwd: path.resolve(import.meta.dirname, "../../.."),
      encoding: "utf8",
    });
    const read = JSON.parse(output) as { skills: number; problems: string[] };
    expect(read.skills).toBe(MAX_SKILLS);
    expect(read.problems).toEqual([
      `${path.join(puruto, ".claude", "skills")}: ${MAX_SKILLS + 5} skill folders, only the first ${MAX_SKILLS} by name are read`,
    ]);
  }, 30_000);
});
