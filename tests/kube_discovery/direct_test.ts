/**
 * The first pod list without client-node (src/kube/direct.ts) is allowed only where it makes
 * exactly the request client-node makes. Proven here on every kubeconfig form the tests use:
 * the credentials derived by direct.ts equal what client-node's own `applyToHTTPSOptions`
 * puts on its requests (server, CA, client certificate and key, bearer token, and nothing
 * else such as basic auth, impersonation or a disabled verification), and both clients list
 * the same pods from the real apiserver. Every other form is refused and left to client-node.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import { CoreV1Api } from "@kubernetes/client-node";
import {
  type DirectAccess,
  directAccess,
  type DirectAccessResult,
  DirectPodLister,
  podListUrl,
} from "../../src/kube/direct.ts";
import { clientNodePodSource, KubeError, loadKubeConfig, toAnchorPod } from "../../src/kube/mod.ts";
import type { KubeconfigSource } from "../../src/kube/mod.ts";
import { freshNamespace, SHARED, sharedCluster, stopSharedCluster } from "./shared.ts";

const FAKE_CA = "-----BEGIN CERTIFICATE-----\nMIIBfakeCA\n-----END CERTIFICATE-----\n";
const FAKE_CERT = "-----BEGIN CERTIFICATE-----\nMIIBfakeClient\n-----END CERTIFICATE-----\n";
const FAKE_KEY = "-----BEGIN PRIVATE KEY-----\nMIGfakeKey\n-----END PRIVATE KEY-----\n";
const b64 = (text: string) => btoa(text);

/** What client-node puts on a request with the kubeconfig at `path` (or in-cluster). */
async function clientNodeRequest(source: KubeconfigSource): Promise<DirectAccess> {
  const kc = new KubeConfig();
  if (source.kind === "in-cluster") kc.loadFromCluster(source.prefix);
  else kc.loadFromFile(source.path);
  const opts: {
    ca?: Uint8Array;
    cert?: Uint8Array;
    key?: Uint8Array;
    headers?: Record<string, string>;
    rejectUnauthorized?: boolean;
    auth?: string;
    servername?: string;
  } = {};
  await kc.applyToHTTPSOptions(opts as never);
  // Nothing beyond what direct.ts reproduces may be on the request.
  assert.equal(opts.rejectUnauthorized, undefined, "TLS verification stays on");
  assert.equal(opts.auth, undefined, "no basic auth");
  assert.equal(opts.servername, undefined, "no tls-server-name");
  const headers = Object.keys(opts.headers ?? {});
  assert.ok(headers.every((h) => h === "Authorization"), `only Authorization: ${headers}`);
  const text = (bytes?: Uint8Array) => bytes && new TextDecoder().decode(bytes);
  const authorization = opts.headers?.Authorization;
  const caCert = text(opts.ca);
  const clientCert = text(opts.cert);
  const clientKey = text(opts.key);
  return {
    server: kc.getCurrentCluster()!.server,
    ...(caCert ? { caCert } : {}),
    ...(clientCert ? { clientCert } : {}),
    ...(clientKey ? { clientKey } : {}),
    ...(authorization ? { token: authorization.replace(/^Bearer /, "") } : {}),
  };
}

function accessOf(result: DirectAccessResult): DirectAccess {
  assert.ok(
    "access" in result,
    `expected direct access, refused: ${"refused" in result ? result.refused : ""}`,
  );
  return result.access;
}

/** A kubeconfig with one cluster, user and context, written to `dir/name`. */
async function kubeconfig(
  dir: string,
  name: string,
  cluster: Record<string, unknown>,
  user: Record<string, unknown>,
): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(
    path,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: "https://10.0.0.1:6443", ...cluster } }],
      users: [{ name: "u", user }],
      contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
      "current-context": "ctx",
    }),
  );
  return path;
}

const file = (path: string): KubeconfigSource => ({ kind: "file", path, from: "config" });
const NO_ENV = { env: () => undefined, readFile: (path: string) => Deno.readFileSync(path) };

Deno.test("direct access equals client-node's request for every kubeconfig form the tests use", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-direct-" });
  try {
    await Deno.mkdir(join(dir, "pki"));
    await Deno.writeTextFile(join(dir, "pki/ca.crt"), FAKE_CA);
    await Deno.writeTextFile(join(dir, "pki/client.crt"), FAKE_CERT);
    await Deno.writeTextFile(join(dir, "pki/client.key"), FAKE_KEY);
    await Deno.writeTextFile(join(dir, "token"), "token-from-a-file");
    const forms: Record<string, [Record<string, unknown>, Record<string, unknown>]> = {
      "token, CA as data": [{ "certificate-authority-data": b64(FAKE_CA) }, { token: "abc.def" }],
      "token-file, CA as a relative file": [
        { "certificate-authority": "pki/ca.crt" },
        { "token-file": join(dir, "token") },
      ],
      "client certificate and key as data, CA as data": [
        { "certificate-authority-data": b64(FAKE_CA) },
        { "client-certificate-data": b64(FAKE_CERT), "client-key-data": b64(FAKE_KEY) },
      ],
      "client certificate and key as relative files, CA as an absolute file": [
        { "certificate-authority": join(dir, "pki/ca.crt") },
        { "client-certificate": "pki/client.crt", "client-key": "./pki/client.key" },
      ],
      "the CA file wins over CA data, the certificate file over its data": [
        { "certificate-authority": "pki/ca.crt", "certificate-authority-data": b64("other") },
        {
          "client-certificate": "pki/client.crt",
          "client-certificate-data": b64("other"),
          "client-key-data": b64(FAKE_KEY),
        },
      ],
      "base64 wrapped over lines": [
        { "certificate-authority-data": b64(FAKE_CA).replace(/(.{20})/g, "$1\n") },
        { token: "t" },
      ],
      "no CA (the runtime's roots), a server URL with a trailing slash": [
        { server: "https://10.0.0.1:6443/" },
        { token: "t" },
      ],
      "insecure-skip-tls-verify: false": [
        { "certificate-authority-data": b64(FAKE_CA), "insecure-skip-tls-verify": false },
        { token: "t" },
      ],
    };
    for (const [name, [cluster, user]] of Object.entries(forms)) {
      await t.step(name, async () => {
        const path = await kubeconfig(dir, `${name.replace(/\W+/g, "-")}.yaml`, cluster, user);
        assert.deepEqual(
          accessOf(directAccess(file(path), NO_ENV)),
          await clientNodeRequest(file(path)),
        );
      });
    }

    await t.step("a BOM at the start of the file", async () => {
      const path = await kubeconfig(dir, "bom.yaml", {}, { token: "t" });
      await Deno.writeTextFile(path, `\ufeff${await Deno.readTextFile(path)}`);
      assert.deepEqual(
        accessOf(directAccess(file(path), NO_ENV)),
        await clientNodeRequest(file(path)),
      );
    });

    await t.step("in-cluster under a HostProcess sandbox mount point", async () => {
      const sandbox = join(dir, "sandbox");
      const sa = join(sandbox, "var/run/secrets/kubernetes.io/serviceaccount");
      await Deno.mkdir(sa, { recursive: true });
      await Deno.writeTextFile(join(sa, "token"), "in-cluster-token");
      await Deno.writeTextFile(join(sa, "ca.crt"), FAKE_CA);
      const env: Record<string, string> = {
        KUBERNETES_SERVICE_HOST: "10.96.0.1",
        KUBERNETES_SERVICE_PORT: "443",
      };
      const saved = Object.keys(env).map((k) => [k, Deno.env.get(k)] as const);
      const source: KubeconfigSource = {
        kind: "in-cluster",
        prefix: sandbox,
        tokenPath: join(sa, "token"),
      };
      try {
        for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
        const direct = accessOf(directAccess(source, { ...NO_ENV, env: (k) => env[k] }));
        assert.deepEqual(direct, await clientNodeRequest(source));
        assert.equal(direct.server, "https://10.96.0.1:443");
      } finally {
        for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("everything else is left to client-node", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-direct-" });
  try {
    const refused: Record<string, [Record<string, unknown>, Record<string, unknown>]> = {
      "insecure-skip-tls-verify": [{ "insecure-skip-tls-verify": true }, { token: "t" }],
      "an exec credential plugin": [{}, { exec: { command: "get-token", apiVersion: "v1" } }],
      "an OIDC auth provider": [{}, { "auth-provider": { name: "oidc", config: {} } }],
      "basic auth": [{}, { username: "u", password: "p" }],
      "impersonation": [{}, { token: "t", as: "someone" }],
      "a proxy": [{ "proxy-url": "http://proxy:3128" }, { token: "t" }],
      "tls-server-name": [{ "tls-server-name": "api" }, { token: "t" }],
      "plain HTTP": [{ server: "http://10.0.0.1:8080" }, { token: "t" }],
      "a certificate without its key": [{}, { "client-certificate-data": b64(FAKE_CERT) }],
      "a CA that is not PEM": [{ "certificate-authority-data": b64("DER?") }, { token: "t" }],
      "a token that is not a string": [{}, { token: 12345 }],
    };
    for (const [name, [cluster, user]] of Object.entries(refused)) {
      await t.step(name, async () => {
        const path = await kubeconfig(dir, `${name.replace(/\W+/g, "-")}.yaml`, cluster, user);
        const result = directAccess(file(path), NO_ENV);
        assert.ok("refused" in result, `${name} must be refused`);
      });
    }
    await t.step("a proxy in the environment", async () => {
      const path = await kubeconfig(dir, "env.yaml", {}, { token: "t" });
      for (const name of ["HTTPS_PROXY", "https_proxy", "NODE_TLS_REJECT_UNAUTHORIZED"]) {
        const result = directAccess(file(path), {
          ...NO_ENV,
          env: (k) => (k === name ? "x" : undefined),
        });
        assert.deepEqual(result, { refused: `$${name} is set` });
      }
    });
    await t.step("in-cluster on a plain-HTTP port or an IPv6 service address", () => {
      for (const [host, port] of [["10.96.0.1", "80"], ["fd00::1", "443"]]) {
        const env: Record<string, string> = {
          KUBERNETES_SERVICE_HOST: host,
          KUBERNETES_SERVICE_PORT: port,
        };
        const result = directAccess(
          { kind: "in-cluster", prefix: "", tokenPath: "/nonexistent" },
          { env: (k) => env[k], readFile: () => new TextEncoder().encode(FAKE_CA) },
        );
        assert.ok("refused" in result);
      }
    });
    await t.step(
      "files client-node would reject: the same errors come from client-node",
      async () => {
        const noContext = join(dir, "no-context.yaml");
        const doc = parse(
          await Deno.readTextFile(await kubeconfig(dir, "x.yaml", {}, { token: "t" })),
        );
        delete doc["current-context"];
        await Deno.writeTextFile(noContext, stringify(doc));
        assert.ok("refused" in directAccess(file(noContext), NO_ENV));
        await assert.rejects(
          loadKubeConfig(noContext),
          (e) => e instanceof KubeError && /no current cluster/.test(e.message),
        );
        const broken = join(dir, "broken.yaml");
        await Deno.writeTextFile(broken, "clusters: [ {name: a\n");
        assert.ok("refused" in directAccess(file(broken), NO_ENV));
        await assert.rejects(
          loadKubeConfig(broken),
          (e) => e instanceof KubeError && /cannot load kubeconfig/.test(e.message),
        );
        const nameless = join(dir, "nameless.yaml");
        doc["current-context"] = "ctx";
        doc.clusters.push({ cluster: { server: "https://x" } });
        await Deno.writeTextFile(nameless, stringify(doc));
        assert.ok("refused" in directAccess(file(nameless), NO_ENV));
        await assert.rejects(loadKubeConfig(nameless), /clusters\[1\]\.name is missing/);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the list URL carries the selectors client-node sends", () => {
  assert.equal(
    podListUrl("https://h:6443", {
      namespace: "k2s",
      labelSelector: "app=a,b in (x)",
      fieldSelector: "spec.nodeName=n1",
    }),
    "https://h:6443/api/v1/namespaces/k2s/pods?fieldSelector=spec.nodeName%3Dn1&labelSelector=app%3Da%2Cb+in+%28x%29",
  );
  assert.equal(
    podListUrl("https://h", { namespace: "*", labelSelector: "" }),
    "https://h/api/v1/pods",
  );
});

/** client-node's own list, as resolution sees it. */
async function clientNodeList(path: string, namespace: string, labelSelector: string) {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  const list = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector });
  return { pods: list.items.map(toAnchorPod), resourceVersion: list.metadata?.resourceVersion };
}

Deno.test({
  name:
    "against the apiserver: the same pods as client-node with each form; failures go to client-node",
  ...SHARED,
  fn: async () => {
    const c = await sharedCluster();
    const ns = await freshNamespace("direct");
    await c.createPod(ns, { name: "a0", labels: { app: "direct" }, annotations: { x: "y" } });
    await c.setPodStatus(ns, "a0", { ready: true, podIP: "10.200.40.1" });
    await c.createPod(ns, { name: "a1", labels: { app: "direct" } });
    await c.createPod(ns, { name: "other", labels: { app: "other" } });
    await c.createServiceAccount(ns, "reader");
    await c.applyRole(ns, "reader", [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }]);
    await c.bindRole(ns, "reader", "reader", "reader");
    const token = await c.tokenFor(ns, "reader");
    const dir = await Deno.makeTempDir({ prefix: "cplauncher-direct-" });
    try {
      const admin = parse(await Deno.readTextFile(c.adminKubeconfigPath));
      const adminUser = admin.users[0].user;
      await Deno.writeTextFile(join(dir, "ca.crt"), c.caPem);
      await Deno.writeTextFile(join(dir, "admin.crt"), atob(adminUser["client-certificate-data"]));
      await Deno.writeTextFile(join(dir, "admin.key"), atob(adminUser["client-key-data"]));
      await Deno.writeTextFile(join(dir, "token"), token);
      const server = { server: c.server };
      const forms = {
        admin: c.adminKubeconfigPath,
        files: await kubeconfig(
          dir,
          "files.yaml",
          { ...server, "certificate-authority": "ca.crt" },
          {
            "client-certificate": "admin.crt",
            "client-key": "admin.key",
          },
        ),
        token: await kubeconfig(dir, "token.yaml", {
          ...server,
          "certificate-authority-data": b64(c.caPem),
        }, { token }),
        tokenFile: await kubeconfig(dir, "token-file.yaml", {
          ...server,
          "certificate-authority": join(dir, "ca.crt"),
        }, {
          "token-file": join(dir, "token"),
        }),
      };
      for (const [name, path] of Object.entries(forms)) {
        const access = accessOf(directAccess(file(path), NO_ENV));
        const lister = new DirectPodLister(access);
        try {
          const direct = await lister.list({ namespace: ns, labelSelector: "app=direct" });
          const expected = await clientNodeList(path, ns, "app=direct");
          assert.deepEqual(
            [...direct.pods].sort((a, b) => a.name.localeCompare(b.name)),
            [...expected.pods].sort((a, b) => a.name.localeCompare(b.name)),
            name,
          );
          assert.ok(Number(direct.resourceVersion) > 0, name);
        } finally {
          lister.close();
        }
      }

      // In-cluster, under a sandbox prefix: the service account's token and CA files.
      const sandbox = join(dir, "sandbox");
      const sa = join(sandbox, "var/run/secrets/kubernetes.io/serviceaccount");
      await Deno.mkdir(sa, { recursive: true });
      await Deno.writeTextFile(join(sa, "token"), token);
      await Deno.writeTextFile(join(sa, "ca.crt"), c.caPem);
      const url = new URL(c.server);
      const env: Record<string, string> = {
        KUBERNETES_SERVICE_HOST: url.hostname,
        KUBERNETES_SERVICE_PORT: url.port,
      };
      const saved = Object.keys(env).map((k) => [k, Deno.env.get(k)] as const);
      try {
        for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
        const source: KubeconfigSource = {
          kind: "in-cluster",
          prefix: sandbox,
          tokenPath: join(sa, "token"),
        };
        const lister = new DirectPodLister(accessOf(directAccess(source)));
        const kc = new KubeConfig();
        kc.loadFromCluster(sandbox);
        const expected = await kc.makeApiClient(CoreV1Api).listNamespacedPod({
          namespace: ns,
          labelSelector: "app=direct",
        });
        const direct = await lister.list({ namespace: ns, labelSelector: "app=direct" });
        lister.close();
        assert.deepEqual(
          direct.pods.map((p) => p.name).sort(),
          expected.items.map((p) => p.metadata?.name).sort(),
        );
      } finally {
        for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
      }

      // A CA that does not sign the server's certificate: the direct list fails, and the
      // source reports client-node's TLS error, as without the direct list.
      const wrongCa = await kubeconfig(dir, "wrong-ca.yaml", {
        ...server,
        "certificate-authority-data": b64(FAKE_CA_REAL),
      }, { token });
      const wrong = new DirectPodLister(accessOf(directAccess(file(wrongCa), NO_ENV)));
      await assert.rejects(wrong.list({ namespace: ns, labelSelector: "" }));
      wrong.close();
      // A refusal (no watch right is irrelevant here: list is missing in another namespace).
      const tokenKube = await loadKubeConfig(forms.token);
      const source = clientNodePodSource(tokenKube);
      const forbidden = await source.list({ namespace: "default", labelSelector: "" }).catch((e) =>
        e
      );
      assert.ok(forbidden instanceof KubeError, String(forbidden));
      assert.equal(forbidden.failure, "forbidden");
      assert.match(
        forbidden.message,
        new RegExp(`"system:serviceaccount:${ns}:reader" may not list pods`),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A real, self-signed CA that signed nothing the apiserver uses. */
const FAKE_CA_REAL = await (async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        join(dir, "k"),
        "-subj",
        "/CN=other-ca",
        "-days",
        "1",
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
})();

Deno.test({
  name: "exec's path: with direct credentials, resolution reads no client-node before its answer",
  ...SHARED,
  fn: async () => {
    const c = await sharedCluster();
    const ns = await freshNamespace("direct-exec");
    await c.createPod(ns, { name: "anchor", labels: { app: "x" } });
    await c.setPodStatus(ns, "anchor", { ready: true, podIP: "10.200.41.1" });
    const script = `
      import { clientNodeRequested } from "./src/kube/client_node.ts";
      import { loadKubeConfig, resolvePodAnchor } from "./src/kube/mod.ts";
      const kube = await loadKubeConfig(${JSON.stringify(c.adminKubeconfigPath)});
      const pod = await resolvePodAnchor(kube, "a", { selector: "app=x", namespace: ${
      JSON.stringify(ns)
    }, pick: "exactly-one", timeoutMs: 10000 });
      console.log(JSON.stringify({ pod: pod.pod, clientNode: clientNodeRequested() }));
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", script],
      cwd: new URL("../../", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
      pod: "anchor",
      clientNode: false,
    });
  },
});

Deno.test({
  name: "direct tests: stop the shared cluster",
  ...SHARED,
  fn: stopSharedCluster,
});
