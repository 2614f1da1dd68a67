// deno-lint-ignore-file require-await -- backend methods are async so that every failure rejects
/**
 * The Linux {@linkcode PlatformBackend}: isolation domains are network namespaces.
 *
 * Needs root (precisely CAP_SYS_ADMIN, for `setns` into other namespaces, and
 * CAP_SYS_PTRACE-level access to other processes' `/proc/PID/ns/net`). Errors caused by
 * missing privileges say so.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { PlatformError } from "../errors.ts";
import type {
  IsolationDomain,
  LaunchedProcess,
  LaunchSpec,
  NetnsDomain,
  PlatformBackend,
  ResolveOptions,
} from "../types.ts";
import { CLONE_NEWNET, closeFd, LibcError, nsType, openReadOnly } from "./libc.ts";
import { NETNS_RUN_DIR, nsfsDev, scanNamespaces, waitForAddress } from "./netns.ts";
import { checkSetpriv, launchInNetns } from "./launch.ts";
import { listeningOn } from "./listening.ts";
import { inspectProgram } from "./program.ts";

export {
  AddressResolutionError,
  type AddressResolutionKind,
  findNamespaceOwning,
  listNamespaces,
  type NetnsAddress,
  type NetnsInfo,
  type NetnsOwner,
  type NetnsScan,
  scanNamespaces,
  waitForAddress,
  type WaitResult,
} from "./netns.ts";
export { launchInNetns, type LaunchOptions, type LinuxLaunchedProcess } from "./launch.ts";
export { listeningOn } from "./listening.ts";
export { LibcError } from "./libc.ts";

const log = getLogger(["cplauncher", "linux"]);

/** `ip netns` style names (no slash) are looked up under `/var/run/netns`. */
function netnsPath(nameOrPath: string): string {
  return nameOrPath.includes("/") ? nameOrPath : `${NETNS_RUN_DIR}/${nameOrPath}`;
}

/**
 * Opens a static `netns:` anchor: checks that the path exists, is a namespace file (nsfs)
 * and is a *network* namespace, and returns it with its inode.
 *
 * @param nameOrPath `/var/run/netns/NAME`, `/proc/PID/ns/net`, or a bare `ip netns` NAME
 */
export function openStaticNetns(nameOrPath: string): NetnsDomain {
  const path = netnsPath(nameOrPath);
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new PlatformError("no-domain", `netns ${path} does not exist`, { cause: e });
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new PlatformError(
        "privilege",
        `netns ${path}: permission denied (reading another process's namespace needs ` +
          `root / CAP_SYS_ADMIN)`,
        { cause: e },
      );
    }
    throw e;
  }
  // Namespace files live on the nsfs pseudo filesystem, shared by all of them; an unmounted
  // /var/run/netns entry is a plain empty file on tmpfs instead.
  if (st.dev !== nsfsDev() || !st.ino) {
    throw new PlatformError(
      "no-domain",
      `netns ${path} is not a namespace file (not on nsfs; a /var/run/netns entry whose ` +
        `bind mount is gone, or a wrong path?)`,
    );
  }
  const fd = openReadOnly(path);
  try {
    const type = nsType(fd, path);
    if (type !== CLONE_NEWNET) {
      throw new PlatformError(
        "no-domain",
        `netns ${path} is a namespace, but not a network namespace`,
      );
    }
  } finally {
    closeFd(fd);
  }
  return { kind: "netns", path, inode: st.ino };
}

function asNetns(domain: IsolationDomain): NetnsDomain {
  if (domain.kind !== "netns") {
    throw new PlatformError(
      "unsupported",
      `the Linux backend cannot use a Windows compartment (id ${domain.id})`,
    );
  }
  return domain;
}

/**
 * The first namespace scan and the first spawn of a process cost several times what later
 * ones do (loading libc, compiling the code paths, Deno's first child process); one scan,
 * its result dropped, and the setpriv check pay for both.
 */
async function warmUp(): Promise<void> {
  const t0 = performance.now();
  try {
    scanNamespaces();
  } catch (error) {
    log.debug("warm-up scan failed: {error}", { error: String(error) });
  }
  await checkSetpriv();
  log.debug("warmed up in {ms} ms", { ms: Math.round((performance.now() - t0) * 100) / 100 });
}

/** Creates the Linux backend. */
export function createLinuxBackend(): PlatformBackend {
  let warmedUp: Promise<void> | undefined;
  return {
    os: "linux",

    warmUp: () => warmedUp ??= warmUp(),

    async resolveAddress(ip: string, options?: ResolveOptions): Promise<IsolationDomain> {
      const r = await waitForAddress(ip, options?.signal);
      log.info(
        "address {ip} is up on {iface} in netns {netns} (inode {inode}); scanned {scanned} " +
          "namespaces in {scanMs} ms, waited {waitedMs} ms",
        {
          ip: r.address.address,
          iface: r.address.interface,
          netns: r.domain.path,
          inode: r.domain.inode,
          scanned: r.scanned,
          scanMs: Math.round(r.elapsedMs * 100) / 100,
          waitedMs: Math.round(r.waitedMs),
        },
      );
      return r.domain;
    },

    async openStatic(anchor): Promise<IsolationDomain> {
      if ("compartment" in anchor) {
        throw new PlatformError(
          "unsupported",
          `compartment anchors are Windows-only; on Linux use netns: PATH (got compartment ` +
            `${anchor.compartment})`,
        );
      }
      return openStaticNetns(anchor.netns);
    },

    async launch(domain: IsolationDomain, spec: LaunchSpec): Promise<LaunchedProcess> {
      return await launchInNetns(asNetns(domain), spec);
    },

    inspectProgram,

    async listening(domain, child, port) {
      return listeningOn(asNetns(domain), child.pid, port);
    },
  };
}

/** True when `e` is a failure caused by missing privileges (EPERM/EACCES, or `privilege`). */
export function isPrivilegeError(e: unknown): boolean {
  if (e instanceof LibcError) return e.codeName === "EPERM" || e.codeName === "EACCES";
  return e instanceof PlatformError && e.kind === "privilege";
}
