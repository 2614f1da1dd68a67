/**
 * Namespace scanning, address waiting and static anchors, against real namespaces.
 *
 * These run inside the `deno test` thread on purpose: the scan's `setns` is thread-local
 * and everything it does while switched is synchronous on the same thread (socket
 * creation), so it works from any thread — which these tests also demonstrate. Launching
 * is tested through a subprocess in launch_test.ts.
 *
 * Needs root. Run: `deno test --allow-all tests/linux/`
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  AddressResolutionError,
  type AddressResolutionKind,
  createLinuxBackend,
  findNamespaceOwning,
  listNamespaces,
  waitForAddress,
} from "../../src/platform/linux/mod.ts";
import { canonicalIp, formatIp, parseIp } from "../../src/platform/ip.ts";
import { isPlatformError, type PlatformErrorKind } from "../../src/platform/mod.ts";
import { LibcError, openReadOnly } from "../../src/platform/linux/libc.ts";
import { restore } from "../../src/platform/linux/netns.ts";
import { parseTcpTable } from "../../src/platform/linux/listening.ts";
import { createTestNetwork, leftovers, type TestNetwork } from "../support/netns.ts";

const PREFIX = "cpltn";

/** Stems of the networks this file made (checked gone at the end). */
const stems: string[] = [];

async function withNetwork(fn: (net: TestNetwork) => Promise<void>): Promise<void> {
  const net = await createTestNetwork(PREFIX);
  stems.push(net.stem);
  try {
    await fn(net);
  } finally {
    await net.remove();
  }
}

function inode(path: string): number {
  return Deno.statSync(path).ino!;
}

async function rejectsWith(
  p: Promise<unknown>,
  kind: AddressResolutionKind,
  pattern: RegExp,
): Promise<AddressResolutionError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AddressResolutionError, `unexpected error ${e}`);
    assert.equal(e.kind, kind);
    assert.match(e.message, pattern);
    return e;
  }
  assert.fail("expected a rejection");
}

/** An assertion for `assert.throws`/`rejects`: a `PlatformError` of `kind` matching `pattern`. */
function platformError(kind: PlatformErrorKind, pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(isPlatformError(e), `not a PlatformError: ${e}`);
    assert.equal(e.kind, kind);
    assert.match(e.message, pattern);
    return true;
  };
}

Deno.test("ip: parse and canonical formatting", () => {
  assert.equal(canonicalIp("10.77.0.5"), "10.77.0.5");
  assert.equal(canonicalIp("fd77:0:0:0:0:0:0:5"), "fd77::5");
  assert.equal(canonicalIp("FD77::0005"), "fd77::5");
  assert.equal(canonicalIp("::ffff:10.0.0.1"), "::ffff:a00:1");
  assert.equal(formatIp(parseIp("2001:db8:0:0:1:0:0:1")!), "2001:db8::1:0:0:1");
  assert.equal(canonicalIp("::"), "::");
  assert.equal(parseIp("10.77.0.256"), null);
  assert.equal(parseIp("1::2::3"), null);
  assert.throws(
    () => canonicalIp("pod-a"),
    platformError("invalid-argument", /not an IPv4 or IPv6 address/),
  );
});

Deno.test("listening: parses /proc/net/tcp LISTEN rows", () => {
  const table =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
    "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n" +
    "   1: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0 20 4 30 10 -1\n";
  assert.deepEqual(parseTcpTable(table, 4), [{ port: 8080, inode: 4242, family: 4 }]);
});

Deno.test("scan finds a fixture namespace's IP, with timing and count", async () => {
  await withNetwork(async (net) => {
    const a = await net.addHost("a", net.addr(10));
    const r = findNamespaceOwning(net.addr(10));
    assert.equal(r.domain.kind, "netns");
    assert.equal(r.domain.path, a.path);
    assert.equal(r.domain.inode, inode(a.path));
    assert.equal(r.address.interface, "eth0");
    assert.equal(r.address.usable, true);
    assert.ok(r.scanned >= 2, `scanned ${r.scanned}`);
    assert.ok(r.elapsedMs > 0 && r.elapsedMs < 5000, `elapsed ${r.elapsedMs}`);

    // IPv6 works too, whatever the spelling (nodad: usable at once).
    await net.addAddress(a, `fd77:${net.subnet.split(".")[2]}::5/64`, ["nodad"]);
    const r6 = findNamespaceOwning(`fd77:${net.subnet.split(".")[2]}:0:0::0005`);
    assert.equal(r6.domain.inode, r.domain.inode);
    assert.equal(r6.address.family, 6);
  });
});

Deno.test("scan: unknown IP is a clear error naming the count", async () => {
  await withNetwork(async (net) => {
    await net.addHost("a", net.addr(10));
    const ip = net.addr(99);
    const err = await rejectsWith(
      Promise.resolve().then(() => findNamespaceOwning(ip)),
      "address-not-found",
      new RegExp(`${ip.replaceAll(".", "\\.")} is not configured in any of the \\d+ network`),
    );
    assert.ok(err.scanned >= 2);
  });
});

Deno.test("scan: an IP in two namespaces is a clear error naming both", async () => {
  await withNetwork(async (net) => {
    const b = await net.addHost("b", net.addr(11));
    const c = await net.addHost("c", net.addr(11));
    const err = await rejectsWith(
      Promise.resolve().then(() => findNamespaceOwning(net.addr(11))),
      "address-ambiguous",
      /configured in 2 network namespaces/,
    );
    assert.ok(err.message.includes(b.path) && err.message.includes(c.path), err.message);
    // waitForAddress fails at once too instead of waiting for the timeout.
    const t0 = performance.now();
    await rejectsWith(
      waitForAddress(net.addr(11), AbortSignal.timeout(5000)),
      "address-ambiguous",
      /2 network namespaces/,
    );
    assert.ok(performance.now() - t0 < 1000);
  });
});

Deno.test("waitForAddress: waits for an address that appears later", async () => {
  await withNetwork(async (net) => {
    const d = await net.addHost("d", "");
    const ip = net.addr(12);
    const t0 = performance.now();
    const waiting = waitForAddress(ip, AbortSignal.timeout(10_000), { intervalMs: 50 });
    await new Promise((r) => setTimeout(r, 300));
    await net.addAddress(d, `${ip}/24`);
    const r = await waiting;
    const elapsed = performance.now() - t0;
    assert.equal(r.domain.path, d.path);
    assert.ok(r.waitedMs >= 250, `waited ${r.waitedMs}`);
    assert.ok(elapsed < 2000, `took ${elapsed}`);
    assert.ok(r.polls >= 3, `polls ${r.polls}`);
  });
});

Deno.test("waitForAddress: an address on a down interface is not ready until it is up", async () => {
  await withNetwork(async (net) => {
    const e = await net.addHost("e", net.addr(13), { up: false });
    // Configured (the kernel even has its local route) but not usable yet.
    const seen = findNamespaceOwning(net.addr(13));
    assert.equal(seen.address.up, false);
    assert.equal(seen.address.usable, false);
    await rejectsWith(
      waitForAddress(net.addr(13), AbortSignal.timeout(300)),
      "address-not-ready",
      /interface eth0 is down/,
    );
    const waiting = waitForAddress(net.addr(13), AbortSignal.timeout(10_000), { intervalMs: 50 });
    await new Promise((r) => setTimeout(r, 200));
    await net.setUp(e);
    const r = await waiting;
    assert.equal(r.domain.path, e.path);
    assert.equal(r.address.usable, true);
  });
});

Deno.test("waitForAddress: times out when the address never appears", async () => {
  const t0 = performance.now();
  await rejectsWith(
    waitForAddress("10.77.255.254", AbortSignal.timeout(400), { intervalMs: 50 }),
    "address-not-found",
    /did not appear in any of the \d+ network namespaces on this node within 0\.\d s/,
  );
  const elapsed = performance.now() - t0;
  assert.ok(elapsed >= 380 && elapsed < 1500, `elapsed ${elapsed}`);
});

Deno.test("backend.resolveAddress returns the owning namespace", async () => {
  await withNetwork(async (net) => {
    const a = await net.addHost("a", net.addr(14));
    const domain = await createLinuxBackend().resolveAddress(net.addr(14), {
      signal: AbortSignal.timeout(5000),
    });
    assert.deepEqual(domain, { kind: "netns", path: a.path, inode: inode(a.path) });
  });
});

Deno.test("listNamespaces shows fixture namespaces with paths and addresses", async () => {
  await withNetwork(async (net) => {
    const a = await net.addHost("a", net.addr(15));
    const scan = listNamespaces();
    assert.equal(scan.scanned, scan.namespaces.length);
    const ns = scan.namespaces.find((n) => n.inode === inode(a.path));
    assert.ok(ns, "fixture namespace listed");
    assert.deepEqual(ns.netnsPaths, [a.path]);
    assert.equal(ns.path, a.path);
    assert.equal(ns.isLauncherNamespace, false);
    const addrs = ns.addresses.map((x) => `${x.interface} ${x.address}/${x.prefixLength}`);
    assert.ok(addrs.includes(`eth0 ${net.addr(15)}/24`), addrs.join(", "));
    assert.ok(addrs.includes("lo 127.0.0.1/8"), addrs.join(", "));
    const own = scan.namespaces.filter((n) => n.isLauncherNamespace);
    assert.equal(own.length, 1);
    assert.ok(own[0].pids.includes(Deno.pid));
    // Distinct by inode.
    assert.equal(new Set(scan.namespaces.map((n) => n.inode)).size, scan.namespaces.length);
  });
});

Deno.test("openStatic: accepts a netns path or name, rejects everything else clearly", async () => {
  const backend = createLinuxBackend();
  await withNetwork(async (net) => {
    const a = await net.addHost("a", net.addr(16));
    assert.deepEqual(await backend.openStatic({ netns: a.path }), {
      kind: "netns",
      path: a.path,
      inode: inode(a.path),
    });
    assert.deepEqual(await backend.openStatic({ netns: a.netns }), {
      kind: "netns",
      path: a.path,
      inode: inode(a.path),
    });
    const self = await backend.openStatic({ netns: `/proc/${Deno.pid}/ns/net` });
    assert.equal(self.kind === "netns" && self.inode, inode("/proc/self/ns/net"));
  });
  await assert.rejects(
    backend.openStatic({ netns: "/var/run/netns/cpltn-does-not-exist" }),
    platformError("no-domain", /netns \/var\/run\/netns\/cpltn-does-not-exist does not exist/),
  );
  const plain = await Deno.makeTempFile();
  try {
    await assert.rejects(
      backend.openStatic({ netns: plain }),
      platformError("no-domain", /is not a namespace file/),
    );
  } finally {
    await Deno.remove(plain);
  }
  await assert.rejects(
    backend.openStatic({ netns: "/proc/self/ns/mnt" }),
    platformError("no-domain", /is a namespace, but not a network namespace/),
  );
  await assert.rejects(
    backend.openStatic({ compartment: 3 }),
    platformError("unsupported", /Windows-only/),
  );
  // Rejections, not synchronous throws, for every backend method.
  const compartment = { kind: "compartment", id: 3, source: "static" } as const;
  const launched = backend.launch(compartment, { name: "x", command: ["true"], env: {} });
  await assert.rejects(launched, platformError("unsupported", /cannot use a Windows compartment/));
});

/** What `fn` throws (failing the test when it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail("expected a throw");
}

Deno.test("errors: libc failures carry the function, errno and its name", () => {
  const e = thrown(() => openReadOnly("/cpltn-no-such-file"));
  assert.ok(e instanceof LibcError);
  assert.equal(e.kind, "errno");
  assert.equal(e.fn, "open");
  assert.equal(e.code, 2);
  assert.equal(e.codeName, "ENOENT");
  assert.match(e.message, /^open \(\/cpltn-no-such-file\) failed: ENOENT: /);
});

Deno.test("errors: a failed return to the own namespace is 'stranded', not a message prefix", () => {
  // setns(-1) fails with EBADF before the thread moves, so nothing is actually stranded.
  const e = thrown(() => restore(-1));
  platformError("stranded", /^FATAL: could not return to the launcher's network namespace/)(e);
  assert.ok(e instanceof Error && e.cause instanceof LibcError, "the setns failure is the cause");
  assert.equal(e.cause.codeName, "EBADF");
});

Deno.test("netns fixtures leave nothing behind", async () => {
  const net = await createTestNetwork(PREFIX);
  await net.addHost("x", net.addr(17));
  assert.notDeepEqual(await leftovers(net.stem), []);
  await net.remove();
  await net.remove(); // idempotent
  for (const stem of [...stems, net.stem]) assert.deepEqual(await leftovers(stem), [], stem);
});
