/**
 * `cplauncher render`: options, bad input (one-line errors, exit 2), warnings, and the
 * library's `render()` invariants. Output shapes are pinned by the golden test; the real
 * apiserver checks them in dry_run_test.ts.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/mod.ts";
import { parseReplicas } from "../../src/cli/render.ts";
import {
  anchorLabels,
  CONFIG_DIGEST_ANNOTATION,
  DEFAULT_IMAGE,
  DEFAULT_LAUNCHER_PATH,
  inferPlatform,
  type KubeObject,
  render,
  RenderError,
  type RenderOptions,
} from "../../src/render/mod.ts";
import { parseConfig } from "../../src/config/mod.ts";
import { VERSION } from "../../src/version.ts";
import { ROOT } from "./cases.ts";
import { type CliRun, runRender } from "./cli.ts";

const tmp = await Deno.makeTempDir({ prefix: "cplauncher-render-test-" });
let counter = 0;

/** Writes a config to a temp file and returns its path. */
async function configFile(text: string): Promise<string> {
  const path = `${tmp}/config-${++counter}.yaml`;
  await Deno.writeTextFile(path, text);
  return path;
}

function config(anchors: string, workloads: string, extra = ""): string {
  return `apiVersion: cplauncher/v1\n${extra}anchors:\n${anchors}\nworkloads:\n${workloads}\n`;
}

const ONE = config(
  "  a: { selector: app=a, namespace: demo, node: '${NODE_NAME}' }",
  "  w: { anchor: a, command: [x], port: 8080 }",
  "health: { port: 9090 }\n",
);

/** Asserts a one-line error with exit 2 and returns the line. */
function oneLineError(run: CliRun): string {
  assert.equal(run.code, 2, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.equal(run.stdout, "");
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${run.stderr}`);
  return lines[0];
}

function find(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.find((o) =>
    o.kind === kind && (name === undefined || o.metadata.name === name)
  );
  assert.ok(found, `${kind} ${name ?? ""}`);
  return found;
}

// deno-lint-ignore no-explicit-any
type Any = any;

Deno.test("render: bad command-line input is one line and exit 2", async (t) => {
  const path = await configFile(ONE);
  const cases: [string, string[], RegExp][] = [
    ["unknown platform", ["--platform", "macos"], /--platform.*macos.*(linux|windows)/],
    ["replicas 0", ["--platform", "linux", "--replicas", "0"], /--replicas: .*at least 1, got "0"/],
    ["replicas negative", ["--platform", "linux", "--replicas", "-1"], /--replicas/],
    ["replicas not a number", ["--platform", "linux", "--replicas", "two"], /--replicas: .*"two"/],
    ["replicas fraction", ["--platform", "linux", "--replicas", "1.5"], /--replicas: .*"1\.5"/],
    ["annotation without =", ["--platform", "linux", "--anchor-annotation", "x"], /KEY=VALUE/],
    [
      "annotation with a bad key",
      ["--platform", "linux", "--anchor-annotation", "bad key=1"],
      /annotation key "bad key"/,
    ],
    ["bad name", ["--platform", "linux", "--name", "Bad_Name"], /name "Bad_Name"/],
    ["bad namespace", ["--platform", "linux", "--namespace", "No"], /namespace "No"/],
    ["empty image", ["--platform", "linux", "--image", ""], /image must not be empty/],
    ["unknown option", ["--platform", "linux", "--bogus"], /unknown option '--bogus'/],
  ];
  for (const [name, args, pattern] of cases) {
    await t.step(name, async () => {
      assert.match(oneLineError(await runRender(["-c", path, ...args])), pattern);
    });
  }
  await t.step("missing config", async () => {
    const line = oneLineError(await runRender(["-c", `${tmp}/nope.yaml`, "--platform", "linux"]));
    assert.match(line, /nope\.yaml:1:1: \(document\): no such file$/);
  });
  await t.step("--out onto a file", async () => {
    const line = oneLineError(await runRender(["-c", path, "--platform", "linux", "--out", path]));
    assert.match(line, /^cplauncher: --out /);
  });
});

Deno.test("render: configs render cannot turn into objects are one line and exit 2", async (t) => {
  const cases: [string, string, string[], RegExp][] = [
    [
      "replicas above 1 without claim",
      ONE,
      ["--replicas", "2"],
      /2 replicas pair 2 launchers with 2 anchors through pick: claim, but anchor a uses pick: exactly-one/,
    ],
    [
      "replicas above 1 with a static anchor",
      config("  s: { netns: /var/run/netns/x }", "  w: { anchor: s, command: [x] }"),
      ["--platform", "linux", "--replicas", "3"],
      /anchor s is a Linux network namespace/,
    ],
    [
      "set-based selector with several values",
      config("  a: { selector: 'env in (a,b)' }", "  w: { anchor: a, command: [x] }"),
      [],
      /anchor a: selector "env in \(a,b\)": .*does not say which value.*use env=a/,
    ],
    [
      "existence-only selector",
      config("  a: { selector: 'app,tier=web' }", "  w: { anchor: a, command: [x] }"),
      [],
      /"app" \(label exists\) gives no value/,
    ],
    [
      "only negative requirements",
      config("  a: { selector: '!canary' }", "  w: { anchor: a, command: [x] }"),
      [],
      /has no key=value requirement/,
    ],
    [
      "contradicting equalities",
      config("  a: { selector: 'app=x,app=y' }", "  w: { anchor: a, command: [x] }"),
      [],
      /asks for app=x and app=y/,
    ],
    [
      "equality and its negation",
      config("  a: { selector: 'app=x,app notin (x)' }", "  w: { anchor: a, command: [x] }"),
      [],
      /contradicts itself: "app notin \(x\)"/,
    ],
    [
      "overlapping selectors",
      config(
        "  a: { selector: app=x }\n  b: { selector: 'app=x,tier=db' }",
        "  w: { anchor: a, command: [x] }\n  v: { anchor: b, command: [y] }",
      ),
      [],
      /anchor a's selector "app=x" also matches the pods generated for anchor b/,
    ],
    [
      "selector matching the launcher",
      config(
        "  a: { selector: app.kubernetes.io/name=cplauncher }",
        "  w: { anchor: a, command: [x] }",
      ),
      [],
      /matches the launcher's own pods/,
    ],
    [
      "reserved label",
      config("  a: { selector: cplauncher.dev/anchor=x }", "  w: { anchor: a, command: [x] }"),
      [],
      /uses the label cplauncher\.dev\/anchor, which render sets itself/,
    ],
    [
      "NODE_NAME in a selector",
      config("  a: { selector: 'node=${NODE_NAME}' }", "  w: { anchor: a, command: [x] }"),
      [],
      /anchor a: selector uses NODE_NAME or POD_NAME, which only the launcher pod knows/,
    ],
    [
      "POD_NAME in a namespace",
      config(
        "  a: { selector: app=a, namespace: '${POD_NAME}' }",
        "  w: { anchor: a, command: [x] }",
      ),
      [],
      /anchor a: namespace uses NODE_NAME or POD_NAME/,
    ],
    [
      "anchors in several namespaces",
      config(
        "  a: { selector: app=a, namespace: one }\n  b: { selector: app=b, namespace: two }",
        "  w: { anchor: a, command: [x] }\n  v: { anchor: b, command: [y] }",
      ),
      [],
      /anchors live in several namespaces \(one, two\); choose the launcher's namespace/,
    ],
    [
      "two workloads, one Service name",
      config(
        "  a: { selector: app=a }",
        "  w_1: { anchor: a, command: [x], port: 1 }\n  w-1: { anchor: a, command: [y], port: 2 }",
      ),
      [],
      /workloads w-1 and w_1 would both be Service default\/w-1/,
    ],
    [
      "a workload name that cannot name a Service",
      config("  a: { selector: app=a }", "  1api: { anchor: a, command: [x], port: 1 }"),
      [],
      /workload "1api" cannot name its Service/,
    ],
    [
      "no workload fits the platform",
      config("  c: { compartment: 2 }", "  w: { anchor: c, command: [x] }"),
      ["--platform", "linux"],
      /no workload of .* can run on linux: w uses anchor c, a Windows compartment \(2\)$/,
    ],
    [
      "platform cannot be inferred",
      ONE,
      ["--no-platform-given"],
      /cannot tell the target OS .*no netns or compartment anchors.*choose the platform/,
    ],
  ];
  for (const [name, text, args, pattern] of cases) {
    await t.step(name, async () => {
      const path = await configFile(text);
      const platformArgs = args.includes("--no-platform-given")
        ? []
        : args.includes("--platform")
        ? args
        : ["--platform", "windows", ...args];
      assert.match(oneLineError(await runRender(["-c", path, ...platformArgs])), pattern);
    });
  }
});

Deno.test("render: an invalid config gives the loader's positioned errors, exit 2", async () => {
  const path = await configFile(
    "apiVersion: cplauncher/v1\nanchors: {}\nworkloads: { w: { anchor: nope, command: [x] } }\n",
  );
  const run = await runRender(["-c", path, "--platform", "linux"]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /config-\d+\.yaml:3:\d+: workloads\.w\.anchor: .*nope/);
});

Deno.test("render: warnings go to stderr, the objects to stdout", async (t) => {
  await t.step("no health block", async () => {
    const path = await configFile(
      config("  a: { selector: app=a, node: x }", "  w: { anchor: a, command: [x] }"),
    );
    const run = await runRender(["-c", path, "--platform", "linux"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stderr,
      "cplauncher: warning: the config has no health block, so the launcher gets no readiness or liveness probes; add `health: { port: 9090 }`\n",
    );
    assert.doesNotMatch(run.stdout, /Probe/);
    assert.doesNotMatch(run.stdout, /hostPort/);
  });
  await t.step("a variable the launcher pod does not set", async () => {
    const name = `CPLAUNCHER_RENDER_TEST_${crypto.randomUUID().slice(0, 8).toUpperCase()}`;
    const path = await configFile(config(
      "  a: { selector: app=a, node: '${NODE_NAME}' }",
      `  w: { anchor: a, command: ['\${${name}}', '\${UNSET_WITH_DEFAULT_X:-d}'] }`,
      "health: { port: 9090 }\n",
    ));
    const unset = await runRender(["-c", path, "--platform", "linux"]);
    assert.match(oneLineError(unset), new RegExp(`environment variable ${name} is not set`));
    Deno.env.set(name, "/bin/true");
    try {
      const run = await runRender(["-c", path, "--platform", "linux"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(
        run.stderr,
        `cplauncher: warning: the config uses \${${name}}, taken from this environment for checking; the launcher pod does not set ${name}\n`,
      );
      assert.ok(run.stdout.includes(`\${${name}}`), "the ConfigMap keeps the reference");
      assert.ok(!run.stdout.includes("/bin/true"), "the value is not baked in");
    } finally {
      Deno.env.delete(name);
    }
  });
  await t.step("kubeconfig path", async () => {
    const path = await configFile(config(
      "  a: { selector: app=a, node: '${NODE_NAME}' }",
      "  w: { anchor: a, command: [x] }",
      "health: { port: 9090 }\nkubernetes: { kubeconfig: /etc/kube.conf }\n",
    ));
    const run = await runRender(["-c", path, "--platform", "linux"]);
    assert.match(
      run.stderr,
      /kubernetes\.kubeconfig is \/etc\/kube\.conf: the launcher will use that file/,
    );
  });
});

Deno.test("render: --out writes a kustomize folder equal to the stream", async () => {
  const path = await configFile(ONE);
  const out = `${tmp}/deploy/nested`;
  const folder = await runRender(["-c", path, "--platform", "windows", "--out", out]);
  assert.equal(folder.code, 0, folder.stderr);
  assert.match(
    folder.stdout,
    /wrote 7 objects for windows \(rbac\.yaml, config\.yaml, anchors\.yaml, launcher\.yaml, services\.yaml, kustomization\.yaml\)/,
  );
  const stream = await runRender(["-c", path, "--platform", "windows"]);
  const names = ["rbac.yaml", "config.yaml", "anchors.yaml", "launcher.yaml", "services.yaml"];
  const header = stream.stdout.slice(0, stream.stdout.indexOf("---\n"));
  let joined = "";
  for (const name of names) {
    const text = await Deno.readTextFile(`${out}/${name}`);
    assert.ok(text.startsWith(header), `${name} has the header`);
    joined += text.slice(header.length);
  }
  assert.equal(header + joined, stream.stdout);
  assert.equal(
    await Deno.readTextFile(`${out}/kustomization.yaml`),
    `${header}apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${
      names.map((n) => `  - ${n}\n`).join("")
    }`,
  );
});

Deno.test("render: --help describes every option", async () => {
  const run = await runRender(["--help"]);
  assert.equal(run.code, 0);
  for (
    const option of [
      "--config",
      "--platform",
      "--image",
      "--launcher-path",
      "--replicas",
      "--anchor-annotation",
      "--name",
      "--namespace",
      "--pause-image",
      "--out",
    ]
  ) {
    assert.ok(run.stdout.includes(option), option);
  }
});

Deno.test("render: wired into the cplauncher CLI (src/main.ts)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "src/main.ts",
      "render",
      "-c",
      "examples/multi.yaml",
      "--platform",
      "linux",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(new TextDecoder().decode(out.stdout), /^# Generated by cplauncher render/);
});

Deno.test("render: parseReplicas", () => {
  assert.equal(parseReplicas("1"), 1);
  assert.equal(parseReplicas(" 12 "), 12);
  for (const bad of ["0", "", "-3", "1e2", "0x10", "2.0", "abc", "99999999999999999999"]) {
    assert.throws(() => parseReplicas(bad), /--replicas/, bad);
  }
});

const BASE: RenderOptions = {
  configText: ONE,
  configFile: "one.yaml",
  platform: "windows",
};

Deno.test("render(): the defaults", () => {
  const result = render(BASE);
  assert.equal(DEFAULT_IMAGE, `cplauncher:${VERSION}`);
  const launcher = find(result.objects, "Deployment", "cplauncher") as Any;
  const container = launcher.spec.template.spec.containers[0];
  assert.equal(container.image, DEFAULT_IMAGE);
  assert.deepEqual(container.command, [
    DEFAULT_LAUNCHER_PATH.windows,
    "run",
    "-c",
    "%CONTAINER_SANDBOX_MOUNT_POINT%\\etc\\cplauncher\\compartments.yaml",
  ]);
  assert.equal(DEFAULT_LAUNCHER_PATH.windows, "%CONTAINER_SANDBOX_MOUNT_POINT%\\cplauncher.exe");
  const linux = render({ ...BASE, platform: "linux" });
  const linuxLauncher = find(linux.objects, "Deployment", "cplauncher") as Any;
  assert.deepEqual(linuxLauncher.spec.template.spec.containers[0].command, [
    "/usr/local/bin/cplauncher",
    "run",
    "-c",
    "/etc/cplauncher/compartments.yaml",
  ]);
  assert.deepEqual(result.warnings, []);
});

Deno.test("render(): Windows launcher is a HostProcess pod; Linux is privileged with hostPID", () => {
  const win = find(render(BASE).objects, "Deployment", "cplauncher") as Any;
  const spec = win.spec.template.spec;
  assert.deepEqual(spec.securityContext, {
    windowsOptions: { hostProcess: true, runAsUserName: "NT AUTHORITY\\SYSTEM" },
  });
  assert.equal(spec.hostNetwork, true);
  assert.equal(spec.hostPID, undefined);
  assert.deepEqual(spec.nodeSelector, { "kubernetes.io/os": "windows" });
  assert.deepEqual(
    spec.containers[0].env.map((e: Any) => [e.name, e.value ?? e.valueFrom.fieldRef.fieldPath]),
    [
      ["DENO_DIR", "C:\\var\\lib\\cplauncher\\deno"],
      ["NODE_NAME", "spec.nodeName"],
      ["POD_NAME", "metadata.name"],
    ],
  );
  assert.deepEqual(spec.containers[0].readinessProbe.httpGet, { path: "/readyz", port: 9090 });
  assert.deepEqual(spec.containers[0].livenessProbe.httpGet, { path: "/healthz", port: 9090 });

  const lin = find(
    render({ ...BASE, platform: "linux" }).objects,
    "Deployment",
    "cplauncher",
  ) as Any;
  const lspec = lin.spec.template.spec;
  assert.equal(lspec.hostPID, true);
  assert.equal(lspec.hostNetwork, true);
  assert.equal(lspec.securityContext, undefined);
  assert.deepEqual(lspec.containers[0].securityContext, { privileged: true });
  assert.deepEqual(lspec.nodeSelector, { "kubernetes.io/os": "linux" });
  // Deno's code cache survives restarts in a host folder.
  assert.deepEqual(lspec.containers[0].env[0], {
    name: "DENO_DIR",
    value: "/var/lib/cplauncher/deno",
  });
  assert.ok(
    lspec.volumes.some((v: Any) =>
      v.name === "deno-dir" && v.hostPath.path === "/var/lib/cplauncher/deno"
    ),
  );
});

Deno.test("render(): replicas, claim RBAC and annotations", () => {
  const text = config(
    "  a: { selector: 'app=a,tier in (web)', namespace: shop, node: '${NODE_NAME}', pick: claim }",
    "  w: { anchor: a, command: [x], port: 80 }",
    "health: { port: 9090, address: 127.0.0.1 }\n",
  );
  const result = render({
    ...BASE,
    configText: text,
    replicas: 4,
    anchorAnnotations: [["z.example/b", "2"], ["a.example/a", "1"]],
  });
  const anchor = find(result.objects, "Deployment", "cplauncher-anchor-a") as Any;
  const launcher = find(result.objects, "Deployment", "cplauncher") as Any;
  assert.equal(anchor.spec.replicas, 4);
  assert.equal(launcher.spec.replicas, 4);
  assert.equal(anchor.spec.strategy, undefined, "claim tolerates a surge pod");
  assert.deepEqual(anchor.spec.template.metadata.annotations, {
    "a.example/a": "1",
    "z.example/b": "2",
  });
  assert.equal(launcher.spec.template.metadata.annotations["a.example/a"], undefined);
  assert.deepEqual(anchor.spec.template.metadata.labels, {
    app: "a",
    "cplauncher.dev/anchor": "a",
    "cplauncher.dev/instance": "cplauncher",
    tier: "web",
  });
  const role = find(result.objects, "Role") as Any;
  assert.deepEqual(role.rules, [{
    apiGroups: [""],
    resources: ["pods"],
    verbs: ["get", "list", "patch", "watch"],
  }]);
  const service = find(result.objects, "Service", "w") as Any;
  assert.deepEqual(service.spec.selector, { app: "a", tier: "web" });
  assert.equal(service.metadata.namespace, "shop");
  // A health endpoint bound to one address is probed there.
  assert.deepEqual(launcher.spec.template.spec.containers[0].readinessProbe.httpGet, {
    host: "127.0.0.1",
    path: "/readyz",
    port: 9090,
  });
});

Deno.test("render(): exactly-one anchors are replaced, not surged", () => {
  const anchor = find(render(BASE).objects, "Deployment", "cplauncher-anchor-a") as Any;
  assert.deepEqual(anchor.spec.strategy, { type: "Recreate" });
  const role = find(render(BASE).objects, "Role") as Any;
  assert.deepEqual(role.rules[0].verbs, ["get", "list", "watch"]);
});

Deno.test("render(): the ConfigMap holds the text as written; its digest rolls the launcher", () => {
  const first = render(BASE);
  const cm = find(first.objects, "ConfigMap") as Any;
  assert.equal(cm.data["compartments.yaml"], ONE);
  const edited = render({ ...BASE, configText: `${ONE}# edited\n` });
  const digest = (r: typeof first) =>
    (find(r.objects, "Deployment", "cplauncher") as Any).spec.template.metadata.annotations[
      CONFIG_DIGEST_ANNOTATION
    ];
  assert.match(digest(first), /^[0-9a-f]{64}$/);
  assert.notEqual(digest(edited), digest(first));
});

Deno.test("render(): deterministic, and independent of the order in the config", () => {
  assert.deepEqual(render(BASE), render(BASE));
  const ab = config(
    "  b: { selector: app=b, node: x }\n  a: { selector: app=a, node: x }",
    "  wb: { anchor: b, command: [x], port: 2 }\n  wa: { anchor: a, command: [x], port: 1 }",
    "health: { port: 9090 }\n",
  );
  const ba = config(
    "  a: { selector: app=a, node: x }\n  b: { selector: app=b, node: x }",
    "  wa: { anchor: a, command: [x], port: 1 }\n  wb: { anchor: b, command: [x], port: 2 }",
    "health: { port: 9090 }\n",
  );
  const strip = (r: ReturnType<typeof render>) =>
    JSON.stringify(
      r.objects.filter((o) => o.kind !== "ConfigMap"),
      (key, value) => key === CONFIG_DIGEST_ANNOTATION ? "" : value,
    );
  assert.equal(
    strip(render({ ...BASE, configText: ab })),
    strip(render({ ...BASE, configText: ba })),
  );
});

Deno.test("render(): left-out workloads are named with -w, and warned about", () => {
  const text = config(
    "  s: { netns: blue }\n  c: { compartment: 3 }",
    "  lin: { anchor: s, command: [x] }\n  win: { anchor: c, command: [y] }",
    "health: { port: 9090 }\n",
  );
  const result = render({ ...BASE, configText: text, platform: "linux" });
  const launcher = find(result.objects, "Deployment", "cplauncher") as Any;
  assert.deepEqual(launcher.spec.template.spec.containers[0].command.slice(-2), ["-w", "lin"]);
  assert.deepEqual(result.warnings, [
    "workload win is left out: its anchor c is a Windows compartment (3), which a linux launcher cannot use",
  ]);
  assert.equal(
    launcher.spec.template.spec.automountServiceAccountToken,
    false,
    "no API access needed",
  );
  assert.equal(result.objects.filter((o) => o.kind === "Role").length, 0);
});

Deno.test('render(): an anchor in every namespace (namespace: "*")', async (t) => {
  const star = (anchors: string, workloads = "  w: { anchor: a, command: [x], port: 80 }") =>
    config(anchors, workloads, "health: { port: 9090 }\n");
  const namespaces = (objects: readonly KubeObject[]) =>
    objects.map((o) => `${o.kind} ${o.metadata.namespace ?? "(cluster)"}/${o.metadata.name}`);

  await t.step("cluster-wide read access; anchor pods and Service in the launcher's", () => {
    const result = render({
      ...BASE,
      configText: star("  a: { selector: app=a, namespace: '*', node: '${NODE_NAME}' }"),
      namespace: "ops",
    });
    assert.deepEqual(namespaces(result.objects), [
      "ServiceAccount ops/cplauncher",
      "ClusterRole (cluster)/ops:cplauncher",
      "ClusterRoleBinding (cluster)/ops:cplauncher",
      "ConfigMap ops/cplauncher-config",
      "Deployment ops/cplauncher-anchor-a",
      "Deployment ops/cplauncher",
      "Service ops/w",
    ]);
    const role = find(result.objects, "ClusterRole") as Any;
    assert.deepEqual(role.rules, [{
      apiGroups: [""],
      resources: ["pods"],
      verbs: ["get", "list", "watch"],
    }]);
    const binding = find(result.objects, "ClusterRoleBinding") as Any;
    assert.deepEqual(binding.roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "ops:cplauncher",
    });
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: "cplauncher", namespace: "ops" },
    ]);
    const launcher = find(result.objects, "Deployment", "cplauncher") as Any;
    assert.deepEqual(
      launcher.spec.template.spec.affinity.podAffinity
        .requiredDuringSchedulingIgnoredDuringExecution[0].namespaces,
      ["ops"],
    );
    assert.deepEqual(result.warnings, []);
  });

  await t.step("without --namespace the other anchors choose it, or it is default", () => {
    const mixed = render({
      ...BASE,
      configText: star(
        "  a: { selector: app=a, namespace: '*', node: x }\n  b: { selector: app=b, namespace: shop, node: x, pick: claim }",
        "  w: { anchor: a, command: [x], port: 80 }\n  v: { anchor: b, command: [y] }",
      ),
    });
    assert.deepEqual(namespaces(mixed.objects).slice(0, 5), [
      "ServiceAccount shop/cplauncher",
      "ClusterRole (cluster)/shop:cplauncher",
      "ClusterRoleBinding (cluster)/shop:cplauncher",
      "Role shop/cplauncher",
      "RoleBinding shop/cplauncher",
    ]);
    assert.deepEqual((find(mixed.objects, "ClusterRole") as Any).rules[0].verbs, [
      "get",
      "list",
      "watch",
    ]);
    assert.deepEqual((find(mixed.objects, "Role") as Any).rules[0].verbs, [
      "get",
      "list",
      "patch",
      "watch",
    ]);
    assert.equal(
      find(mixed.objects, "Deployment", "cplauncher-anchor-a").metadata.namespace,
      "shop",
    );

    const alone = render({
      ...BASE,
      configText: star("  a: { selector: app=a, namespace: '*', node: x, pick: claim }"),
    });
    assert.equal(find(alone.objects, "Deployment", "cplauncher").metadata.namespace, "default");
    assert.equal(alone.objects.filter((o) => o.kind === "Role").length, 0);
    assert.deepEqual((find(alone.objects, "ClusterRole") as Any).rules[0].verbs, [
      "get",
      "list",
      "patch",
      "watch",
    ], "claims patch pods wherever the claimed anchor lives");
    assert.ok(alone.objects.every((o) => o.metadata.namespace !== "*"));
  });

  await t.step("its selector may not match generated pods in any namespace", () => {
    assert.throws(
      () =>
        render({
          ...BASE,
          configText: star(
            "  a: { selector: app=x, namespace: '*' }\n  b: { selector: 'app=x,tier=db', namespace: shop }",
            "  w: { anchor: a, command: [x] }\n  v: { anchor: b, command: [y] }",
          ),
          namespace: "ops",
        }),
      /anchor a's selector "app=x" also matches the pods generated for anchor b/,
    );
  });

  await t.step("its Deployment and Service names are checked in the launcher's namespace", () => {
    const clashing = star(
      "  a_b: { selector: app=x, namespace: '*' }\n  a-b: { selector: app=y, namespace: ops }",
      "  w: { anchor: a_b, command: [x], port: 1 }\n  v: { anchor: a-b, command: [y] }",
    );
    assert.throws(
      () => render({ ...BASE, configText: clashing }),
      /anchors a-b and a_b would both be Deployment ops\/cplauncher-anchor-a-b; rename one/,
    );
    // In another namespace than the launcher's, the same names do not meet.
    const apart = render({ ...BASE, configText: clashing, namespace: "elsewhere" });
    assert.deepEqual(
      apart.objects.filter((o) => o.kind === "Deployment").map((o) => o.metadata.namespace),
      ["ops", "elsewhere", "elsewhere"],
    );
    assert.throws(
      () =>
        render({
          ...BASE,
          configText: star(
            "  a: { selector: app=a, namespace: '*' }\n  b: { selector: app=b, namespace: ops }",
            "  w_1: { anchor: a, command: [x], port: 1 }\n  w-1: { anchor: b, command: [y], port: 2 }",
          ),
        }),
      /workloads w-1 and w_1 would both be Service ops\/w-1; rename one/,
    );
  });
});

Deno.test("render(): errors are RenderError or ConfigError", () => {
  assert.throws(() => render({ ...BASE, replicas: 0 }), RenderError);
  assert.throws(() => render({ ...BASE, configText: "nope: 1\n" }), ConfigError);
});

Deno.test("inferPlatform", () => {
  const parse = (text: string) => {
    const r = parseConfig(text, "x", { env: { NODE_NAME: "n" } });
    assert.ok(r.ok);
    return r.config;
  };
  assert.equal(
    inferPlatform(parse(config("  c: { compartment: 2 }", "  w: { anchor: c, command: [x] }"))),
    "windows",
  );
  assert.equal(
    inferPlatform(parse(config("  n: { netns: x }", "  w: { anchor: n, command: [x] }"))),
    "linux",
  );
  assert.equal(inferPlatform(parse(ONE)), undefined);
});

Deno.test("anchorLabels", () => {
  assert.deepEqual(anchorLabels("a", "tier in (web), app = x, canary!=true, !beta"), {
    app: "x",
    tier: "web",
  });
  assert.throws(() => anchorLabels("a", "app"), RenderError);
  assert.throws(
    () => anchorLabels("a", "app=x,replicas>1"),
    /"replicas>1" \(a numeric comparison\) gives no value for the generated anchor pods/,
  );
});

Deno.test("render: cleanup", async () => {
  await Deno.remove(tmp, { recursive: true });
});
