/**
 * Resolution code paths under a real Windows deno. Under Wine the compartment calls are stubs
 * (switching "succeeds" for every id but the thread never leaves compartment 1, which the
 * backend detects and treats as "cannot be entered") and there is no computenetwork.dll, so
 * these tests prove the FFI plumbing, the table decoding and the retry/timeout logic — not that
 * a pod IP is found in the right compartment. Each test says what it cannot prove.
 */
import assert from "node:assert/strict";
import {
  currentThreadCompartment,
  tcpListeners,
  unicastAddresses,
  withThreadCompartment,
} from "../../../src/platform/windows/compartment.ts";
import {
  hcnLookup,
  listCompartments,
  resolveCompartment,
  scanForAddress,
} from "../../../src/platform/windows/resolve.ts";
import { parseIp } from "../../../src/platform/windows/address.ts";
import { createWindowsBackend } from "../../../src/platform/windows/mod.ts";
import type { PlatformError } from "../../../src/platform/errors.ts";
import { iphlpapi } from "../../../src/platform/windows/iphlpapi.ts";
import { DEFAULT_COMPARTMENT_ID, W } from "../../../src/platform/windows/structs.ts";
import { ON_WINDOWS, skippedStep, WINE_VERSION } from "./_util.ts";

const T = { ignore: !ON_WINDOWS, sanitizeResources: false } as const;
if (ON_WINDOWS) iphlpapi();
const wine = WINE_VERSION ? `Wine ${WINE_VERSION}` : null;

/**
 * An IPv4 address this host does not have (198.18.0.0/15 is reserved for benchmarks). Picked
 * at run time: other test suites on the same machine create interfaces with TEST-NET addresses.
 */
function unusedIpv4(): string {
  const used = new Set(unicastAddresses().map((r) => [...r.address].join(".")));
  for (let i = 1; i < 255; i++) {
    const ip = `198.18.77.${i}`;
    if (!used.has(ip)) return ip;
  }
  throw new Error("no unused address in 198.18.77.0/24");
}

Deno.test({
  ...T,
  name: "resolve: the JS thread starts in compartment 1 and withThreadCompartment restores it",
  fn() {
    assert.equal(currentThreadCompartment(), DEFAULT_COMPARTMENT_ID);
    const inside = withThreadCompartment(1, () => currentThreadCompartment());
    assert.equal(inside, 1);
    if (wine) {
      // The stub accepts the switch but the thread stays in 1: that is "not entered", and the
      // thread is cleared back (SetCurrentThreadCompartmentId(0)) and checked afterwards.
      assert.throws(
        () => withThreadCompartment(2, () => "ran inside"),
        (e: PlatformError) => e.kind === "no-domain" && /reads compartment 1/.test(e.message),
      );
    }
    assert.throws(() => withThreadCompartment(1, () => Promise.resolve()), /synchronous/);
    assert.throws(() =>
      withThreadCompartment(1, () => {
        throw new Error("boom");
      }), /boom/);
    assert.equal(currentThreadCompartment(), 1);
    if (wine) {
      skippedStep(
        "switching into another compartment",
        `${wine}: Set/GetCurrentThreadCompartmentId are stubs`,
      );
    }
  },
});

Deno.test({
  ...T,
  name: "resolve: GetUnicastIpAddressTable decodes 127.0.0.1 with DAD state preferred",
  fn() {
    const rows = unicastAddresses();
    const lo = rows.find((r) => r.family === W.AF_INET && r.address.join(".") === "127.0.0.1");
    assert.ok(lo, `127.0.0.1 not in ${JSON.stringify(rows.map((r) => [...r.address]))}`);
    assert.equal(lo.dadState, W.IpDadStatePreferred);
    assert.ok(lo.ifIndex > 0);
  },
});

Deno.test({
  ...T,
  name: "resolve: GetExtendedTcpTable decodes a listener of this process",
  fn() {
    const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = (server.addr as Deno.NetAddr).port;
      const mine = tcpListeners().filter((l) => l.port === port);
      assert.equal(mine.length, 1);
      assert.equal(mine[0].family, W.AF_INET);
      assert.equal(mine[0].pid, Deno.pid);
    } finally {
      server.close();
    }
  },
});

Deno.test({
  ...T,
  name: "resolve: HCN lookup reports why it is unavailable; the scan finds 127.0.0.1",
  async fn() {
    const ip = parseIp("127.0.0.1")!;
    const hcn = await hcnLookup(ip);
    if (hcn.kind === "unavailable") {
      skippedStep("HCN endpoint -> namespace -> NamespaceId", `unavailable here: ${hcn.reason}`);
    }
    assert.notEqual(hcn.kind, "found", "127.0.0.1 is never an HCN endpoint address");
    assert.deepEqual(await scanForAddress(ip, [1, 2, 3, 4]), {
      id: 1,
      entered: [1],
    });
    const missing = await scanForAddress(parseIp(unusedIpv4())!, [1, 2, 3, 4]);
    assert.equal(missing.id, null);
    assert.ok(missing.entered.includes(1));
  },
});

Deno.test({
  ...T,
  name: "resolve: backend.resolveAddress resolves 127.0.0.1 to compartment 1 (scan, DAD preferred)",
  async fn() {
    const backend = createWindowsBackend({ maxScanId: 4 });
    const d = await backend.resolveAddress("127.0.0.1", { signal: AbortSignal.timeout(20_000) });
    assert.deepEqual(d, { kind: "compartment", id: 1, source: "scan" });
    if (wine) {
      skippedStep(
        "pod IP found in its own compartment",
        `${wine}: only the host compartment exists`,
      );
    }
  },
});

Deno.test({
  ...T,
  name: "resolve: an address that never appears fails when the signal aborts, naming what it saw",
  async fn() {
    const ip = unusedIpv4();
    const started = performance.now();
    await assert.rejects(
      resolveCompartment(ip, AbortSignal.timeout(1200), {
        maxScanId: 2,
        initialDelayMs: 100,
      }),
      (e: PlatformError) => {
        assert.equal(e.kind, "address-not-found");
        assert.ok(e.message.includes(`could not resolve ${ip} to a compartment`), e.message);
        assert.match(e.message, /scan of compartments 1\.\.2: not found/);
        assert.match(e.message, /compartments that could be entered: 1\b/);
        return true;
      },
    );
    const took = performance.now() - started;
    assert.ok(took >= 1000 && took < 10_000, `took ${took} ms`);
    await assert.rejects(
      createWindowsBackend().resolveAddress("not-an-ip"),
      (e: PlatformError) => e.kind === "invalid-argument" && /not an IP address/.test(e.message),
    );
  },
});

Deno.test({
  ...T,
  name: "resolve: openStatic checks the compartment and rejects netns anchors",
  async fn() {
    const backend = createWindowsBackend();
    assert.deepEqual(await backend.openStatic({ compartment: 1 }), {
      kind: "compartment",
      id: 1,
      source: "static",
    });
    await assert.rejects(
      backend.openStatic({ compartment: 0 }),
      (e: PlatformError) =>
        e.kind === "invalid-argument" && /invalid compartment id/.test(e.message),
    );
    await assert.rejects(backend.openStatic({ netns: "/var/run/netns/x" }), /Linux-only/);
    if (wine) {
      // The stub "switches" into 2 without leaving 1: the compartment is refused, not trusted.
      await assert.rejects(
        backend.openStatic({ compartment: 2 }),
        (e: PlatformError) =>
          e.kind === "no-domain" &&
          /compartment 2 does not exist or cannot be entered/.test(e.message),
      );
      skippedStep(
        "openStatic accepts a pod's compartment that exists",
        `${wine}: only the host compartment can be entered`,
      );
    }
  },
});

Deno.test({
  ...T,
  name: "resolve: listCompartments (cplauncher compartments) decodes each compartment's addresses",
  async fn() {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const compartments = await listCompartments(1024);
    clearInterval(timer);
    // 1,024 ids are entered in slices of 64: the event loop ran in between.
    assert.ok(ticks > 0, "the scan never yielded to the event loop");
    assert.ok(compartments.length >= 1);
    assert.equal(compartments[0].id, 1, "the host compartment comes first");
    const host = unicastAddresses().map((r) => [...r.address].join(","));
    for (const a of compartments[0].addresses) {
      const bytes = parseIp(a.address);
      assert.ok(bytes, `${a.address} is an address`);
      assert.ok(host.includes([...bytes!].join(",")), `${a.address} is one of the host's`);
      assert.match(a.state, /^(Invalid|Tentative|Duplicate|Deprecated|Preferred|\d+)$/);
      assert.ok(Number.isInteger(a.ifIndex));
    }
    assert.equal(compartments[0].addresses.length, host.length);
    assert.equal(currentThreadCompartment(), 1, "the thread is back in compartment 1");
    if (wine) {
      assert.equal(compartments.length, 1, "a stubbed switch is not an entered compartment");
      skippedStep("listing compartments other than 1", `${wine}: only compartment 1 exists`);
    }
  },
});
