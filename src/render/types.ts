/**
 * Types, defaults and the error of `render`.
 *
 * @module
 */
import { VERSION } from "../version.ts";

/** Operating system of the nodes the launcher and its anchors run on. */
export type RenderPlatform = "linux" | "windows";

/** A generated Kubernetes object (plain JSON data, keys in output order). */
export interface KubeObject {
  /** `v1`, `apps/v1`, `rbac.authorization.k8s.io/v1`. */
  readonly apiVersion: string;
  /** `ServiceAccount`, `Role`, `RoleBinding`, `ConfigMap`, `Deployment`, `Service`. */
  readonly kind: string;
  /** Name, namespace and labels. */
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  /** The rest of the object. */
  readonly [field: string]: unknown;
}

/** A group of objects written to one file with `--out`. */
export interface RenderFile {
  /** File name inside the output folder (`rbac.yaml`, `launcher.yaml`…). */
  readonly name: string;
  /** The objects in the file, in output order. */
  readonly objects: readonly KubeObject[];
}

/** What {@linkcode render} needs. Everything has a default except the config text. */
export interface RenderOptions {
  /** The config file's text, exactly as it goes into the ConfigMap. */
  readonly configText: string;
  /** File name used in messages and the output header (default `<string>`). */
  readonly configFile?: string;
  /**
   * Variables for `${VAR}` while validating, except the ones the launcher pod sets itself
   * ({@linkcode POD_VARIABLES}). Default: none set (only `${VAR:-default}` works).
   */
  readonly env?: (name: string) => string | undefined;
  /** Target OS; default: inferred from static anchors ({@linkcode inferPlatform}). */
  readonly platform?: RenderPlatform;
  /** Launcher image (default {@linkcode DEFAULT_IMAGE}). */
  readonly image?: string;
  /** Path of the launcher executable in its container (default per platform). */
  readonly launcherPath?: string;
  /** Anchor pod image (default {@linkcode DEFAULT_PAUSE_IMAGE}). */
  readonly pauseImage?: string;
  /** Launchers and anchors per selector anchor (default 1; above 1 needs `pick: claim`). */
  readonly replicas?: number;
  /** Base name of the generated objects (default {@linkcode DEFAULT_NAME}). */
  readonly name?: string;
  /** Namespace of the launcher, its ServiceAccount and ConfigMap (default: the anchors'). */
  readonly namespace?: string;
  /** Annotations for the anchor pods (e.g. service mesh injection), in order given. */
  readonly anchorAnnotations?: readonly (readonly [string, string])[];
}

/** The generated objects, grouped, plus what the user should know about them. */
export interface RenderResult {
  /** Target OS actually used. */
  readonly platform: RenderPlatform;
  /** Every object, in output order. */
  readonly objects: readonly KubeObject[];
  /** The objects grouped into files for a kustomize folder. */
  readonly files: readonly RenderFile[];
  /** Things that are valid but probably not what was meant (one line each). */
  readonly warnings: readonly string[];
}

/** A config or option `render` cannot turn into objects; the message is one line. */
export class RenderError extends Error {
  /** Creates an error with a one-line `message`. */
  constructor(message: string) {
    super(message);
    this.name = "RenderError";
  }
}

/** Default base name of generated objects. */
export const DEFAULT_NAME = "cplauncher";
/** Default launcher image: build it from `dist/` (see docs/render.md). */
export const DEFAULT_IMAGE: string = `cplauncher:${VERSION}`;
/** Default anchor image; multi-arch, with Linux and Windows variants. */
export const DEFAULT_PAUSE_IMAGE = "registry.k8s.io/pause:3.10";
/**
 * Default launcher path per platform. On Windows the exe lies at the root of the image (as
 * examples/windows/Dockerfile puts it), which a HostProcess container sees under
 * `%CONTAINER_SANDBOX_MOUNT_POINT%`; the container runtime (hcsshim) replaces that
 * variable anywhere in the command line.
 */
export const DEFAULT_LAUNCHER_PATH: Readonly<Record<RenderPlatform, string>> = {
  windows: "%CONTAINER_SANDBOX_MOUNT_POINT%\\cplauncher.exe",
  linux: "/usr/local/bin/cplauncher",
};
/**
 * Toleration added to Windows pods: the taint Kubernetes' Windows guide suggests for keeping
 * Linux pods off Windows nodes. Harmless where the taint is not used.
 */
export const WINDOWS_TOLERATION: Readonly<Record<string, string>> = {
  key: "os",
  operator: "Equal",
  value: "windows",
  effect: "NoSchedule",
};
/** Where the ConfigMap is mounted in the launcher container. */
export const CONFIG_MOUNT_PATH = "/etc/cplauncher";
/** Key of the config in the ConfigMap (and file name under the mount). */
export const CONFIG_KEY = "compartments.yaml";
/** Variables the generated launcher pod sets from the downward API. */
export const POD_VARIABLES: Readonly<Record<string, string>> = {
  NODE_NAME: "spec.nodeName",
  POD_NAME: "metadata.name",
};
/** Pod template annotation carrying the config digest, so a config change rolls the launcher. */
export const CONFIG_DIGEST_ANNOTATION = "cplauncher.dev/config-sha256";
/** Label naming the config anchor an anchor pod stands for. */
export const ANCHOR_LABEL = "cplauncher.dev/anchor";
/** Label naming the render instance (`--name`) an anchor pod belongs to. */
export const INSTANCE_LABEL = "cplauncher.dev/instance";
/**
 * The namespace of a selector anchor that the launcher looks for in every namespace. Render
 * grants that access cluster-wide and generates the anchor's pods in the launcher's namespace.
 */
export { ALL_NAMESPACES } from "../config/mod.ts";
