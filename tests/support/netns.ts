/**
 * Test fixture: real network namespaces on a private bridge.
 *
 * `createTestNetwork(prefix)` makes a bridge in the host namespace with `10.77.N.1/24` (N
 * picked at random among unused subnets), and `addHost(name, ip)` makes a namespace with a
 * veth pair whose outer end is on the bridge and whose inner end is `eth0` with the
 * address, up, plus `lo` up and a default route via the bridge. Everything is named
 * `<prefix><4-char run id>…`, so parallel runs don't collide and {@linkcode leftovers}
 * can check that nothing stayed behind. `remove()` deletes everything this fixture made,
 * is idempotent, and is meant for a `finally`.
 *
 * Only 10.77.0.0/16 is used, and only inside namespaces (and the bridge) made here. This
 * file drives the `ip` tool and reads its output; the product itself never does that.
 *
 * @module
 */

/** Result of running a command. */
export interface RunResult {
  /** Exit code. */
  readonly code: number;
  /** Captured stdout. */
  readonly stdout: string;
  /** Captured stderr. */
  readonly stderr: string;
}

const decoder = new TextDecoder();

/** Runs a command to completion, capturing output. */
export async function run(cmd: string, args: string[]): Promise<RunResult> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs `ip args…`, throwing with its stderr on failure. */
export async function ip(...args: string[]): Promise<string> {
  const r = await run("ip", args);
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** A namespace made by {@linkcode TestNetwork.addHost}. */
export interface TestHost {
  /** `ip netns` name. */
  readonly netns: string;
  /** `/var/run/netns/<netns>`. */
  readonly path: string;
  /** Its address on the bridge (empty when made without one). */
  readonly ip: string;
  /** Host-side veth name (on the bridge). */
  readonly veth: string;
}

/** Options of {@linkcode TestNetwork.addHost}. */
export interface AddHostOptions {
  /** Bring the interfaces up (default true). With false the address sits on a down eth0. */
  readonly up?: boolean;
}

/** A bridge plus the namespaces hanging off it. */
export interface TestNetwork {
  /** Unique run id (4 chars). */
  readonly id: string;
  /** `<prefix><id>`: every name this fixture makes starts with it. */
  readonly stem: string;
  /** Bridge name in the host namespace. */
  readonly bridge: string;
  /** `10.77.N`: the /24 this network uses. */
  readonly subnet: string;
  /** `10.77.N.k`. */
  addr(k: number): string;
  /** Creates a namespace `<stem>-<name>` attached to the bridge with `ip` (may be ""). */
  addHost(name: string, ip: string, options?: AddHostOptions): Promise<TestHost>;
  /** Brings a host's interfaces up (for hosts made with `up: false`). */
  setUp(host: TestHost): Promise<void>;
  /** Adds another address to a host's eth0 (`flags`: e.g. `["nodad"]` for IPv6). */
  addAddress(host: TestHost, cidr: string, flags?: string[]): Promise<void>;
  /** Runs `cmd` inside a host's namespace (`ip netns exec`). */
  exec(host: TestHost, cmd: string, args: string[]): Promise<RunResult>;
  /** Deletes everything made (processes in the namespaces are killed first). Idempotent. */
  remove(): Promise<void>;
  /**
   * The same, synchronously, for `unload` handlers (a filtered or interrupted test run that
   * never reaches its cleanup test). Best effort; never throws.
   */
  removeSync(): void;
}

function randomId(): string {
  const chars = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return Array.from(bytes, (b) => chars[b % chars.length]).join("");
}

/** Host-namespace 10.77.x subnets already in use (by other fixtures or runs). */
async function usedSubnets(): Promise<Set<number>> {
  const out = await ip("-o", "-4", "addr", "show");
  const used = new Set<number>();
  for (const m of out.matchAll(/inet 10\.77\.(\d+)\./g)) used.add(Number(m[1]));
  return used;
}

/**
 * Environment variable naming a file to which every {@linkcode createTestNetwork} of this
 * process (and of the processes it starts) appends its stem, one per line: how a test that
 * runs another program (the benchmarks) learns exactly which names that program made.
 */
export const STEM_RECORD_ENV = "CPLAUNCHER_TEST_NETWORK_RECORD";

function recordStem(stem: string): void {
  const file = Deno.env.get(STEM_RECORD_ENV);
  if (file) Deno.writeTextFileSync(file, `${stem}\n`, { append: true });
}

/** The stems recorded in `file` (see {@linkcode STEM_RECORD_ENV}). */
export async function recordedStems(file: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(file)).split("\n").filter(Boolean);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/**
 * Creates a bridge `<prefix><id>b` with `10.77.N.1/24` in the host namespace.
 *
 * @param prefix short name prefix (at most 6 characters, so interface names fit in 15)
 */
export async function createTestNetwork(prefix: string): Promise<TestNetwork> {
  if (prefix.length > 6 || !/^[a-z][a-z0-9]*$/.test(prefix)) {
    throw new Error(`prefix '${prefix}' must be 1-6 lowercase alphanumerics`);
  }
  const id = randomId();
  const stem = `${prefix}${id}`;
  const bridge = `${stem}b`;
  recordStem(stem);
  const used = await usedSubnets();
  const free = [];
  for (let n = 100; n < 250; n++) if (!used.has(n)) free.push(n);
  if (free.length === 0) throw new Error("no free 10.77.N.0/24 subnet");
  const n = free[Math.floor(Math.random() * free.length)];
  const subnet = `10.77.${n}`;

  const hosts: TestHost[] = [];
  let bridgeMade = false;
  let removed = false;

  const remove = async () => {
    if (removed) return;
    const errors: string[] = [];
    for (const h of hosts) {
      // Kill whatever still runs in the namespace, or `ip netns del` leaves it alive
      // holding the namespace (and its addresses) after the mount is gone.
      const pids = await run("ip", ["netns", "pids", h.netns]);
      for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
        try {
          Deno.kill(Number(p), "SIGKILL");
        } catch { /* gone */ }
      }
      const del = await run("ip", ["netns", "del", h.netns]);
      if (del.code !== 0 && !/No such file|not found/i.test(del.stderr)) {
        errors.push(del.stderr.trim());
      }
      // Deleting the namespace destroys eth0 and with it the peer; this is for the case
      // where it still exists (namespace creation failed half-way).
      await run("ip", ["link", "del", h.veth]);
    }
    if (bridgeMade) {
      const del = await run("ip", ["link", "del", bridge]);
      if (del.code !== 0 && !/Cannot find|does not exist/i.test(del.stderr)) {
        errors.push(del.stderr.trim());
      }
    }
    removed = true;
    if (errors.length > 0) throw new Error(`test network cleanup: ${errors.join("; ")}`);
  };

  try {
    await ip("link", "add", bridge, "type", "bridge");
    bridgeMade = true;
    await ip("addr", "add", `${subnet}.1/24`, "dev", bridge);
    await ip("link", "set", bridge, "up");
  } catch (e) {
    await remove().catch(() => {});
    throw e;
  }

  const net: TestNetwork = {
    id,
    stem,
    bridge,
    subnet,
    addr: (k) => `${subnet}.${k}`,
    async addHost(name, address, options = {}) {
      const up = options.up ?? true;
      const k = hosts.length;
      const host: TestHost = {
        netns: `${stem}-${name}`,
        path: `/var/run/netns/${stem}-${name}`,
        ip: address,
        veth: `${stem}v${k}`,
      };
      if (host.veth.length > 15) throw new Error(`interface name ${host.veth} too long`);
      hosts.push(host); // registered first, so remove() also cleans a half-made host
      await ip("netns", "add", host.netns);
      await ip(
        "link",
        "add",
        host.veth,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        host.netns,
      );
      await ip("link", "set", host.veth, "master", bridge);
      await ip("link", "set", host.veth, "up");
      if (address !== "") await ip("-n", host.netns, "addr", "add", `${address}/24`, "dev", "eth0");
      if (up) await net.setUp(host);
      return host;
    },
    async setUp(host) {
      await ip("-n", host.netns, "link", "set", "lo", "up");
      await ip("-n", host.netns, "link", "set", "eth0", "up");
      if (host.ip !== "") {
        await ip("-n", host.netns, "route", "add", "default", "via", `${subnet}.1`);
      }
    },
    async addAddress(host, cidr, flags = []) {
      await ip("-n", host.netns, "addr", "add", cidr, "dev", "eth0", ...flags);
    },
    exec(host, cmd, args) {
      return run("ip", ["netns", "exec", host.netns, cmd, ...args]);
    },
    remove,
    removeSync() {
      if (removed) return;
      const quiet = { stdout: "null", stderr: "null" } as const;
      for (const h of hosts) {
        try {
          const pids = new Deno.Command("ip", { args: ["netns", "pids", h.netns], stderr: "null" })
            .outputSync();
          for (const p of new TextDecoder().decode(pids.stdout).split(/\s+/).filter(Boolean)) {
            try {
              Deno.kill(Number(p), "SIGKILL");
            } catch { /* gone */ }
          }
          new Deno.Command("ip", { args: ["netns", "del", h.netns], ...quiet }).outputSync();
          new Deno.Command("ip", { args: ["link", "del", h.veth], ...quiet }).outputSync();
        } catch { /* best effort */ }
      }
      try {
        new Deno.Command("ip", { args: ["link", "del", bridge], ...quiet }).outputSync();
      } catch { /* best effort */ }
      removed = true;
    },
  };
  return net;
}

/** Namespaces and interfaces whose names start with `prefix` (should be none after tests). */
export async function leftovers(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const line of (await ip("-o", "link", "show")).split("\n")) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m && m[1].startsWith(prefix)) out.push(`link ${m[1]}`);
  }
  try {
    for (const e of Deno.readDirSync("/var/run/netns")) {
      if (e.name.startsWith(prefix)) out.push(`netns ${e.name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/**
 * Deletes namespaces and interfaces whose names start with `prefix` — for recovering by
 * hand after a test run that was killed before its `finally` could clean up. Returns what
 * it removed.
 */
export async function removeLeftovers(prefix: string): Promise<string[]> {
  const found = await leftovers(prefix);
  for (const item of found.filter((x) => x.startsWith("netns "))) {
    const name = item.slice("netns ".length);
    const pids = await run("ip", ["netns", "pids", name]);
    for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        Deno.kill(Number(p), "SIGKILL");
      } catch { /* gone */ }
    }
    await run("ip", ["netns", "del", name]);
  }
  for (const item of found.filter((x) => x.startsWith("link "))) {
    await run("ip", ["link", "del", item.slice("link ".length)]);
  }
  return found;
}
