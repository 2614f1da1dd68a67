/**
 * Every object `cplauncher render` prints is accepted by a REAL kube-apiserver: for every
 * example config on both platforms (where the config can run there at all) and for the
 * fixtures, each object is POSTed with `dryRun=All&fieldValidation=Strict`, a Pod made from
 * each Deployment's template is dry-run too (pod validation and admission are stricter),
 * and `kubectl apply --dry-run=server` reads the YAML stream as users would. No request may
 * be refused and none may draw a warning.
 *
 * Then the documented flow for real: render a kustomize folder, `kubectl apply -k`, scale
 * by rendering with another `--replicas` and applying again; and the generated RBAC grants
 * exactly what the config needs (`kubectl auth can-i` as the launcher's ServiceAccount).
 *
 * The apiserver runs with `--allow-privileged=true`, as in kubeadm, AKS, k2s and other real
 * clusters: without it every privileged or HostProcess pod is refused ("disallowed by
 * cluster policy"), which is exactly what the launcher is.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../../src/render/mod.ts";
import { type KubeCluster, startKubeCluster } from "../support/kube_cluster.ts";
import { allCases, REQUIRED_CONFIGS, ROOT } from "./cases.ts";
import { runRender } from "./cli.ts";
import { AdminClient, dryRunAll, ensureNamespaces } from "./dry_run.ts";

const CLUSTER_OPTIONS = { extraApiserverArgs: ["--allow-privileged=true"] };

/** Parses a YAML stream the way Kubernetes tools do (YAML 1.1), skipping empty documents. */
function parseStream(text: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text, { version: "1.1" })) {
    assert.deepEqual(doc.errors, []);
    const value = doc.toJS();
    if (value !== null) objects.push(value as KubeObject);
  }
  return objects;
}

interface KubectlRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function kubectl(cluster: KubeCluster, args: string[], stdin?: string): Promise<KubectlRun> {
  const child = new Deno.Command(`${cluster.binDir}/kubectl`, {
    args: ["--kubeconfig", cluster.adminKubeconfigPath, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/**
 * Whether ServiceAccount `account` (`namespace:name`) may `verb` `resource` (`pods`,
 * `pods/status`) in `namespace`, asked of the real authorizer.
 */
async function canI(
  cluster: KubeCluster,
  account: string,
  verb: string,
  resource: string,
  namespace: string,
): Promise<boolean> {
  const [type, sub] = resource.split("/");
  const args = ["auth", "can-i", verb, type, "-n", namespace];
  args.push("--as", `system:serviceaccount:${account}`);
  if (sub) args.push(`--subresource=${sub}`);
  return (await kubectl(cluster, args)).code === 0;
}

/** A permission check: verb, resource (`pods`, `pods/status`), namespace. */
type Access = readonly [verb: string, resource: string, namespace: string];

/** Asserts that `account` is granted exactly the `allowed` accesses of those listed. */
async function assertAccess(
  cluster: KubeCluster,
  account: string,
  allowed: readonly Access[],
  denied: readonly Access[],
): Promise<void> {
  for (const [verb, resource, ns] of allowed) {
    assert.ok(await canI(cluster, account, verb, resource, ns), `${verb} ${resource} in ${ns}`);
  }
  for (const [verb, resource, ns] of denied) {
    assert.ok(
      !await canI(cluster, account, verb, resource, ns),
      `must not ${verb} ${resource} in ${ns}`,
    );
  }
}

const cases = await allCases();

Deno.test("render dry run: every generated object is accepted by the real kube-apiserver", async (t) => {
  await using cluster = await startKubeCluster(CLUSTER_OPTIONS);
  const client = await AdminClient.for(cluster);
  const accepted = new Set<string>();
  try {
    for (const c of cases) {
      await t.step(c.id, async () => {
        const run = await runRender(["-c", `${ROOT}${c.config}`, ...c.args]);
        if (run.code !== 0) {
          // A config that cannot run on this platform at all (checked by the golden test).
          assert.equal(run.code, 2, run.stderr);
          assert.match(run.stderr, /^cplauncher: no workload of .* can run on (linux|windows)/);
          return;
        }
        const objects = parseStream(run.stdout);
        assert.ok(objects.length >= 3, "ServiceAccount, ConfigMap and launcher at least");
        await ensureNamespaces(cluster, objects);
        const outcomes = await dryRunAll(cluster, client, objects);
        const problems = outcomes.filter((o) => o.status !== 201 || o.warnings.length > 0);
        assert.deepEqual(problems, [], "refused or warned");
        assert.equal(
          outcomes.length,
          objects.length + objects.filter((o) => o.kind === "Deployment").length,
        );

        const applied = await kubectl(
          cluster,
          ["apply", "--dry-run=server", "-f", "-"],
          run.stdout,
        );
        assert.equal(applied.code, 0, applied.stderr);
        assert.equal(applied.stderr, "", "kubectl printed warnings");
        const lines = applied.stdout.trim().split("\n");
        assert.equal(lines.length, objects.length, applied.stdout);
        for (const line of lines) {
          assert.match(line, /(created|configured|unchanged) \(server dry run\)$/);
        }
        accepted.add(c.config);
      });
    }
  } finally {
    client.close();
  }
  for (const config of REQUIRED_CONFIGS) {
    assert.ok(accepted.has(config), `${config} renders for at least one platform`);
  }
});

Deno.test("render dry run: render → kubectl apply -k → scale by rendering other replicas", async () => {
  await using cluster = await startKubeCluster(CLUSTER_OPTIONS);
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-render-" });
  try {
    const base = [
      "-c",
      `${ROOT}tests/render/fixtures/claim-windows.yaml`,
      "--platform",
      "windows",
      "--namespace",
      "shop-system",
      "--out",
      dir,
    ];
    for (const ns of ["shop", "shop-system"]) await cluster.createNamespace(ns);

    const first = await runRender(base);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /wrote 10 objects for windows/);
    const kustomization = await Deno.readTextFile(`${dir}/kustomization.yaml`);
    assert.match(
      kustomization,
      /resources:\n {2}- rbac\.yaml\n {2}- config\.yaml\n {2}- anchors\.yaml\n {2}- launcher\.yaml\n {2}- services\.yaml\n/,
    );
    const built = await kubectl(cluster, ["kustomize", dir]);
    assert.equal(built.code, 0, built.stderr);
    assert.equal(parseStream(built.stdout).length, 10);

    const apply = await kubectl(cluster, ["apply", "-k", dir]);
    assert.equal(apply.code, 0, apply.stderr);
    assert.equal(apply.stderr, "");
    const replicas = async () => {
      const out: Record<string, number> = {};
      for (const ns of ["shop", "shop-system"]) {
        const res = await cluster.api<
          { items: { metadata: { name: string }; spec: { replicas: number } }[] }
        >(
          "GET",
          `/apis/apps/v1/namespaces/${ns}/deployments`,
        );
        for (const d of res.body.items) out[`${ns}/${d.metadata.name}`] = d.spec.replicas;
      }
      return out;
    };
    assert.deepEqual(await replicas(), {
      "shop/cplauncher-anchor-cache": 1,
      "shop/cplauncher-anchor-web": 1,
      "shop-system/cplauncher": 1,
    });

    // Scaling is one number: render again with --replicas 3 and apply.
    const scaled = await runRender([...base, "--replicas", "3"]);
    assert.equal(scaled.code, 0, scaled.stderr);
    const reapply = await kubectl(cluster, ["apply", "-k", dir]);
    assert.equal(reapply.code, 0, reapply.stderr);
    assert.match(reapply.stdout, /deployment\.apps\/cplauncher configured/);
    assert.match(reapply.stdout, /configmap\/cplauncher-config unchanged/);
    assert.deepEqual(await replicas(), {
      "shop/cplauncher-anchor-cache": 3,
      "shop/cplauncher-anchor-web": 3,
      "shop-system/cplauncher": 3,
    });

    // Least privilege, asked of the real authorizer as the launcher's ServiceAccount; the
    // anchors claim, so patch is granted.
    await assertAccess(
      cluster,
      "shop-system:cplauncher",
      ["get", "list", "watch", "patch"].map((verb) => [verb, "pods", "shop"]),
      [
        ["create", "pods", "shop"],
        ["delete", "pods", "shop"],
        ["update", "pods", "shop"],
        ["patch", "pods/status", "shop"],
        ["create", "pods/exec", "shop"],
        ["get", "secrets", "shop"],
        ["get", "configmaps", "shop"],
        ["list", "pods", "shop-system"],
        ["list", "pods", "default"],
        ["list", "nodes", "default"],
      ],
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("render dry run: without pick: claim the launcher may only read pods", async () => {
  await using cluster = await startKubeCluster(CLUSTER_OPTIONS);
  const run = await runRender([
    "-c",
    `${ROOT}examples/albums-linux.yaml`,
    "--platform",
    "linux",
  ]);
  assert.equal(run.code, 0, run.stderr);
  await cluster.createNamespace("demo");
  const apply = await kubectl(cluster, ["apply", "-f", "-"], run.stdout);
  assert.equal(apply.code, 0, apply.stderr);
  // No patch without claim, nothing outside the anchor namespace.
  await assertAccess(
    cluster,
    "demo:cplauncher",
    ["get", "list", "watch"].map((verb) => [verb, "pods", "demo"]),
    [["patch", "pods", "demo"], ["list", "pods", "default"]],
  );
});

Deno.test("render dry run: an anchor in every namespace reads pods cluster-wide, and nothing else", async () => {
  await using cluster = await startKubeCluster(CLUSTER_OPTIONS);
  const run = await runRender([
    "-c",
    `${ROOT}tests/render/fixtures/all-namespaces.yaml`,
    "--platform",
    "linux",
    "--namespace",
    "cplauncher-system",
  ]);
  assert.equal(run.code, 0, run.stderr);
  for (const ns of ["shop", "cplauncher-system", "elsewhere"]) await cluster.createNamespace(ns);
  const apply = await kubectl(cluster, ["apply", "-f", "-"], run.stdout);
  assert.equal(apply.code, 0, apply.stderr);
  assert.match(
    apply.stdout,
    /clusterrole\.rbac\.authorization\.k8s\.io\/cplauncher-system:cplauncher created/,
  );
  // The anchor claims, so the launcher patches pods wherever its pod is found.
  await assertAccess(
    cluster,
    "cplauncher-system:cplauncher",
    ["elsewhere", "default", "shop"].flatMap((ns) =>
      ["get", "list", "watch", "patch"].map((verb): Access => [verb, "pods", ns])
    ),
    [
      ["create", "pods", "elsewhere"],
      ["delete", "pods", "elsewhere"],
      ["patch", "pods/status", "elsewhere"],
      ["create", "pods/exec", "shop"],
      ["get", "secrets", "elsewhere"],
      ["list", "nodes", "default"],
    ],
  );
});
