/**
 * `-c` inside a Windows HostProcess container: a relative path that does not exist as given is
 * looked up under `$CONTAINER_SANDBOX_MOUNT_POINT`.
 */
import assert from "node:assert/strict";
import { resolveConfigPath } from "../../src/cli/options.ts";

Deno.test("config path: a relative -c falls back to the sandbox mount point, nothing else does", async () => {
  const sandbox = await Deno.makeTempDir({ prefix: "cplauncher-sandbox-" });
  const before = Deno.env.get("CONTAINER_SANDBOX_MOUNT_POINT");
  try {
    await Deno.mkdir(`${sandbox}/etc/cplauncher`, { recursive: true });
    await Deno.writeTextFile(`${sandbox}/etc/cplauncher/compartments.yaml`, "{}\n");
    Deno.env.delete("CONTAINER_SANDBOX_MOUNT_POINT");
    assert.equal(
      resolveConfigPath("etc/cplauncher/compartments.yaml"),
      "etc/cplauncher/compartments.yaml",
    );
    Deno.env.set("CONTAINER_SANDBOX_MOUNT_POINT", `${sandbox}/`);
    assert.equal(
      resolveConfigPath("etc/cplauncher/compartments.yaml"),
      `${sandbox}/etc/cplauncher/compartments.yaml`,
    );
    // Missing in both places: the path as given, so the error names what the user wrote.
    assert.equal(resolveConfigPath("etc/missing.yaml"), "etc/missing.yaml");
    // Absolute paths and paths that exist as given are never redirected.
    assert.equal(
      resolveConfigPath("/etc/cplauncher/compartments.yaml"),
      "/etc/cplauncher/compartments.yaml",
    );
    assert.equal(resolveConfigPath("deno.json"), "deno.json");
  } finally {
    if (before === undefined) Deno.env.delete("CONTAINER_SANDBOX_MOUNT_POINT");
    else Deno.env.set("CONTAINER_SANDBOX_MOUNT_POINT", before);
    await Deno.remove(sandbox, { recursive: true });
  }
});
