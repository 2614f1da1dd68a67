// deno-lint-ignore-file no-console -- test/demo output for people reading the run
/**
 * `deno task demo`: the k2s albums scenario for real on one Linux machine. A real kube-apiserver
 * holds an anchor Pod whose IP lives in a network namespace made here; `cplauncher run`
 * finds the anchor by label and starts the albums service inside it; a second namespace
 * (the "curl pod") calls it on the pod IP. Everything is removed at the end.
 */
import {
  albumsCommand,
  startAlbumsScenario,
  startLauncher,
  waitForHttp,
} from "../tests/support/albums_scenario.ts";

function say(message: string): void {
  console.log(`==> ${message}`);
}

if (Deno.build.os !== "linux") {
  console.error(
    `The demo needs Linux network namespaces; this is ${Deno.build.os}. See examples/windows/ for Windows nodes.`,
  );
  Deno.exit(1);
}
if (Deno.uid() !== 0) {
  console.error(
    "The demo creates network namespaces and veth pairs, which needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN). Run it as root.",
  );
  Deno.exit(1);
}

const scenario = await startAlbumsScenario({ anchors: 1, progress: say, prefix: "cpldem" });
let code = 1;
try {
  const anchor = scenario.anchors[0];
  const config = await scenario.writeConfig("compartments", {
    apiVersion: "cplauncher/v1",
    kubernetes: { kubeconfig: scenario.cluster.adminKubeconfigPath },
    anchors: {
      albums: { selector: "app=cp-albums", namespace: scenario.namespace, timeout: "60s" },
    },
    workloads: {
      albums: {
        anchor: "albums",
        command: albumsCommand(8080),
        port: 8080,
        probes: { readiness: { http: { port: 8080, path: "/health/readiness" }, period: "1s" } },
      },
    },
  });
  say(`config:\n${await Deno.readTextFile(config)}`);
  say("cplauncher run -c compartments.yaml");
  const launcher = startLauncher(["run", "-c", config]);
  try {
    await launcher.waitFor(/listens on port 8080 inside the anchor/, 60_000);
    say("launcher log so far:");
    console.log(launcher.stderr().trimEnd().split("\n").map((l) => `    ${l}`).join("\n"));
    const url = `http://${anchor.host.ip}:8080/albums`;
    say(`from the client namespace (the "curl pod"): curl ${url}`);
    const response = await waitForHttp(scenario, url, 30_000);
    console.log(`HTTP ${response.status}`);
    console.log(response.body);
    const hostSide = await new Deno.Command("ss", {
      args: ["-Hltn", "sport = :8080"],
      stdout: "piped",
    }).output();
    const listeners = new TextDecoder().decode(hostSide.stdout).trim();
    say(
      `listening on :8080 in the host namespace: ${
        listeners === "" ? "nothing (the workload lives in the anchor's netns)" : listeners
      }`,
    );
    code = response.status === 200 && listeners === "" ? 0 : 1;
  } finally {
    say("stopping the launcher (SIGTERM)");
    try {
      launcher.process.kill("SIGTERM");
    } catch { /* already ended */ }
    const { code: launcherCode } = await launcher.status;
    say(`launcher exited with ${launcherCode}`);
  }
} finally {
  say("removing namespaces, veths, apiserver and etcd");
  await scenario.stop();
}
say(code === 0 ? "demo succeeded" : "demo FAILED");
Deno.exit(code);
