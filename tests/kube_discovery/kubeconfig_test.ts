import assert from "node:assert/strict";
import { findKubeconfig, KubeError } from "../../src/kube/mod.ts";

function environment(
  env: Record<string, string>,
  files: string[],
  os: typeof Deno.build.os = "linux",
) {
  return { env: (n: string) => env[n], exists: (p: string) => files.includes(p), os };
}
const TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

Deno.test("auto: in-cluster token wins when KUBERNETES_SERVICE_HOST is set", () => {
  const source = findKubeconfig(
    "auto",
    environment({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBECONFIG: "/k" }, [TOKEN, "/k"]),
  );
  assert.deepEqual(source, { kind: "in-cluster", prefix: "", tokenPath: TOKEN });
});

Deno.test("auto: HostProcess sandbox mount point is looked at first, trailing backslash stripped", () => {
  const prefix = "C:\\C\\0123abcd";
  const source = findKubeconfig(
    "auto",
    environment(
      { KUBERNETES_SERVICE_HOST: "10.0.0.1", CONTAINER_SANDBOX_MOUNT_POINT: `${prefix}\\` },
      [`${prefix}${TOKEN}`, TOKEN],
      "windows",
    ),
  );
  assert.deepEqual(source, { kind: "in-cluster", prefix, tokenPath: `${prefix}${TOKEN}` });
});

Deno.test("auto: $KUBECONFIG before ~/.kube/config, first existing entry of the list", () => {
  const source = findKubeconfig(
    "auto",
    environment({ KUBECONFIG: "/a:/b", HOME: "/root" }, ["/b", "/root/.kube/config"]),
  );
  assert.deepEqual(source, { kind: "file", path: "/b", from: "KUBECONFIG" });
});

Deno.test("auto: Windows falls back to %USERPROFILE%\\.kube\\config", () => {
  const source = findKubeconfig(
    "auto",
    environment({ USERPROFILE: "C:\\Windows\\system32\\config\\systemprofile" }, [
      "C:\\Windows\\system32\\config\\systemprofile\\.kube\\config",
    ], "windows"),
  );
  assert.deepEqual(source, {
    kind: "file",
    path: "C:\\Windows\\system32\\config\\systemprofile\\.kube\\config",
    from: "home",
  });
});

Deno.test("auto: nothing found names every place looked at", () => {
  assert.throws(
    () => findKubeconfig("auto", environment({ HOME: "/root" }, [])),
    (error: unknown) => {
      assert.ok(error instanceof KubeError);
      assert.equal(error.failure, "config");
      assert.match(error.message, /in-cluster token .*token/);
      assert.match(error.message, /\$KUBECONFIG \(unset\)/);
      assert.match(error.message, /\/root\/\.kube\/config \(missing\)/);
      return true;
    },
  );
});

Deno.test("in-cluster forces the in-cluster source; a token without the service env is reported", () => {
  assert.throws(
    () => findKubeconfig("in-cluster", environment({ KUBECONFIG: "/k" }, [TOKEN, "/k"])),
    /KUBERNETES_SERVICE_HOST is unset/,
  );
});

Deno.test("an explicit path must exist and is used as is", () => {
  assert.deepEqual(findKubeconfig("/etc/kc", environment({}, ["/etc/kc"])), {
    kind: "file",
    path: "/etc/kc",
    from: "config",
  });
  assert.throws(
    () => findKubeconfig("/etc/nope", environment({}, [])),
    /kubeconfig \/etc\/nope does not exist/,
  );
});
