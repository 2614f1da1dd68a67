/** Linux unit tests of the pure resolution helpers (IP parsing, HCN documents, GUIDs). */
import assert from "node:assert/strict";
import {
  formatIp,
  guidBytes,
  matchEndpoint,
  namespaceCompartment,
  parseGuidList,
  parseIp,
  summarizeEndpoint,
} from "../../src/platform/windows/address.ts";
import { describeScan, scanOrder } from "../../src/platform/windows/resolve.ts";

Deno.test("address: IPv4 and IPv6 literals parse to bytes; junk does not", () => {
  assert.deepEqual([...parseIp("10.244.1.7")!], [10, 244, 1, 7]);
  assert.equal(parseIp("10.244.1"), null);
  assert.equal(parseIp("10.244.1.256"), null);
  assert.equal(parseIp("a.b.c.d"), null);
  assert.deepEqual([...parseIp("::1")!], [...new Array(15).fill(0), 1]);
  assert.deepEqual(parseIp("fd00::a:1"), parseIp("fd00:0:0:0:0:0:a:1"));
  assert.deepEqual(parseIp("FD00::A:1"), parseIp("fd00::a:1"));
  assert.deepEqual([...parseIp("::ffff:10.0.0.1")!.slice(10)], [0xff, 0xff, 10, 0, 0, 1]);
  assert.deepEqual(parseIp("fe80::1%12"), parseIp("fe80::1"));
  assert.equal(parseIp("1::2::3"), null);
  assert.equal(parseIp("1:2:3:4:5:6:7:8:9"), null);
  assert.equal(parseIp("1:2:3:4:5:6:7"), null);
  assert.equal(formatIp(parseIp("10.0.0.1")!), "10.0.0.1");
});

// Shape of an HCN v2 endpoint document (HcnQueryEndpointProperties), trimmed.
const ENDPOINT = JSON.stringify({
  ID: "3f6a1b2c-0d4e-4f50-8a61-72b3c4d5e6f7",
  Name: "cp-albums-anchor_eth0",
  HostComputeNetwork: "8d2e9b70-1111-4a2b-9c3d-4e5f60718293",
  HostComputeNamespace: "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
  IpConfigurations: [{ IpAddress: "172.20.1.5", PrefixLength: 24 }, { IpAddress: "fd00::5" }],
  SchemaVersion: { Major: 2, Minor: 16 },
});

Deno.test("address: an HCN endpoint matches by IpConfigurations[].IpAddress", () => {
  assert.deepEqual(matchEndpoint(ENDPOINT, parseIp("172.20.1.5")!), {
    endpointId: "3f6a1b2c-0d4e-4f50-8a61-72b3c4d5e6f7",
    namespaceId: "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
  });
  assert.ok(matchEndpoint(ENDPOINT, parseIp("fd00:0::5")!));
  assert.equal(matchEndpoint(ENDPOINT, parseIp("172.20.1.6")!), null);
  // Not attached to a namespace yet: still a match, without namespaceId (caller retries).
  const detached = JSON.parse(ENDPOINT);
  delete detached.HostComputeNamespace;
  assert.deepEqual(matchEndpoint(JSON.stringify(detached), parseIp("172.20.1.5")!), {
    endpointId: "3f6a1b2c-0d4e-4f50-8a61-72b3c4d5e6f7",
    namespaceId: undefined,
  });
  assert.equal(matchEndpoint("not json", parseIp("172.20.1.5")!), null);
  assert.equal(matchEndpoint("{}", parseIp("172.20.1.5")!), null);
});

Deno.test("address: a remote endpoint (Flags & RemoteEndpoint) never matches, whatever its IP", () => {
  const remote = { ...JSON.parse(ENDPOINT), Flags: 1 };
  assert.equal(matchEndpoint(JSON.stringify(remote), parseIp("172.20.1.5")!), null);
  // Other flag bits do not make an endpoint remote.
  const local = { ...JSON.parse(ENDPOINT), Flags: 2 };
  assert.ok(matchEndpoint(JSON.stringify(local), parseIp("172.20.1.5")!));
  assert.deepEqual(summarizeEndpoint(JSON.stringify(remote)), {
    endpointId: "3f6a1b2c-0d4e-4f50-8a61-72b3c4d5e6f7",
    addresses: ["172.20.1.5", "fd00::5"],
    namespaceId: "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
    remote: true,
  });
  assert.equal(summarizeEndpoint("nope"), null);
});

Deno.test("address: NamespaceId is the compartment; 0 or absent means not yet", () => {
  assert.equal(namespaceCompartment('{"ID":"x","NamespaceId":7,"Type":"HostDefault"}'), 7);
  assert.equal(namespaceCompartment('{"ID":"x","NamespaceId":0}'), null);
  assert.equal(namespaceCompartment('{"ID":"x"}'), null);
  assert.equal(namespaceCompartment('{"NamespaceId":"7"}'), null);
  assert.equal(namespaceCompartment("[]"), null);
});

Deno.test("address: CompartmentId counts where NamespaceId is absent, never over it", () => {
  assert.equal(namespaceCompartment('{"ID":"x","CompartmentId":9}'), 9);
  assert.equal(namespaceCompartment('{"ID":"x","CompartmentId":0}'), null);
  assert.equal(namespaceCompartment('{"NamespaceId":4,"CompartmentId":9}'), 4);
  assert.equal(namespaceCompartment('{"NamespaceId":0,"CompartmentId":9}'), null);
});

Deno.test("resolve: the scan tries HCN's compartments first (any id), then 1..max without them", () => {
  assert.deepEqual(scanOrder([], 4), [1, 2, 3, 4]);
  assert.deepEqual(scanOrder([3, 700, 3], 4), [3, 700, 1, 2, 4]);
  assert.deepEqual(scanOrder([0, -1, 2.5, 2], 3), [2, 1, 3]);
  assert.equal(scanOrder([5000], 4096).length, 4097);
  assert.equal(describeScan([], 4096), "compartments 1..4096");
  assert.equal(describeScan([3, 700], 4096), "compartments 3, 700 (HCN) and 1..4096");
});

Deno.test("address: endpoint lists and GUID encoding", () => {
  assert.deepEqual(
    parseGuidList('["3f6a1b2c-0d4e-4f50-8a61-72b3c4d5e6f7","junk",5]'),
    ["3f6a1b2c-0d4e-4f50-8a61-72b3c4d5e6f7"],
  );
  assert.deepEqual(parseGuidList("null"), []);
  // Data1..Data3 little-endian, Data4 as written.
  assert.deepEqual(
    [...guidBytes("{00112233-4455-6677-8899-aabbccddeeff}")],
    [
      0x33,
      0x22,
      0x11,
      0x00,
      0x55,
      0x44,
      0x77,
      0x66,
      0x88,
      0x99,
      0xaa,
      0xbb,
      0xcc,
      0xdd,
      0xee,
      0xff,
    ],
  );
  assert.throws(() => guidBytes("not-a-guid"));
});
