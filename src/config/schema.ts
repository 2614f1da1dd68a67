/**
 * The compartments.yaml language as a zod schema. The parsed output is normalised: defaults
 * filled in, durations in milliseconds, anchors tagged by kind.
 *
 * @module
 */
import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { parseSelector } from "./selector.ts";
import type { Anchor, Config, PickMode } from "./types.ts";

/**
 * The `sha256` value that takes a workload's digest from the lock file.
 *
 * A workload's `sha256` may be this value; see the {@linkcode readLock} example for the
 * digests it stands for.
 */
export const SHA256_AUTO = "auto";

/**
 * Config `apiVersion` this build understands.
 *
 * See the {@linkcode parseConfig} example, whose text starts with this version.
 */
export const API_VERSION = "cplauncher/v1";

const NAME_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const name = z.string().regex(
  NAME_PATTERN,
  "names are 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
);

/** A duration string (`500ms`, `30s`, `2m`, `1h`, `1m30s`) parsed to milliseconds. */
const duration = z
  .string({ error: "expected a duration string such as 500ms, 30s or 2m" })
  .meta({ pattern: "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", examples: ["500ms", "30s", "2m"] })
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({
        code: "custom",
        message:
          `"${text}" is not a duration (use a number with ms, s, m or h, e.g. 500ms, 30s, 2m)`,
      });
      return z.NEVER;
    }
    return ms;
  });

const port = z.number().int().min(1).max(65535);

const kubernetesSchema = z.strictObject({
  kubeconfig: z.string().min(1).default("auto").describe(
    "`auto` (in-cluster, then $KUBECONFIG, then ~/.kube/config), `in-cluster`, or a kubeconfig path",
  ),
}).describe("How to reach the Kubernetes API");

/**
 * How a selector anchor chooses among matching pods (see {@linkcode PickMode}).
 *
 * See the {@linkcode Config} example, which prints each selector anchor's `pick`.
 */
export const PICK_MODES = ["exactly-one", "first-ready", "claim"] as const;

/** Namespace value of a selector anchor that means "all namespaces". */
/** The selector-anchor namespace that means "every namespace". */
export const ALL_NAMESPACES = "*";

const anchorFields = z.strictObject({
  selector: z.string().superRefine((text, ctx) => {
    const parsed = parseSelector(text);
    if (!parsed.ok) ctx.addIssue({ code: "custom", message: `bad selector: ${parsed.message}` });
  }).describe("Label selector of the anchor pod, e.g. app=cp-albums-win").optional(),
  namespace: z.string().regex(
    /^(\*|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$/,
    `a Kubernetes namespace name (lowercase letters, digits and '-'), or "${ALL_NAMESPACES}" for all namespaces`,
  ).optional().describe(
    `Namespace of the anchor pod, or "${ALL_NAMESPACES}" for all namespaces (default: default)`,
  ),
  node: z.string().min(1).optional().describe(
    "Only anchors on this node (use ${NODE_NAME} from the downward API)",
  ),
  pick: z.enum(PICK_MODES).optional().describe(
    "exactly-one (default): more than one match is an error; first-ready: oldest Ready pod; claim: pair launchers and anchors 1:1",
  ),
  timeout: duration.optional().describe("How long to wait for the anchor (default 120s)"),
  netns: z.string().min(1).optional().describe(
    "Linux: static network namespace path (/var/run/netns/NAME or /proc/PID/ns/net)",
  ),
  compartment: z.number().int().min(1).optional().describe("Windows: static compartment id"),
});

const SELECTOR_ONLY = ["namespace", "node", "pick", "timeout"] as const;

const anchorSchema = anchorFields.transform((raw, ctx): Anchor => {
  const sources = (["selector", "netns", "compartment"] as const).filter((k) =>
    raw[k] !== undefined
  );
  if (sources.length !== 1) {
    ctx.addIssue({
      code: "custom",
      message: sources.length === 0
        ? "an anchor needs exactly one of selector, netns or compartment"
        : `an anchor has exactly one of selector, netns or compartment, not ${
          sources.join(" and ")
        }`,
      path: sources.length > 1 ? [sources[1]] : [],
    });
    return z.NEVER;
  }
  if (raw.selector === undefined) {
    let bad = false;
    for (const key of SELECTOR_ONLY) {
      if (raw[key] !== undefined) {
        bad = true;
        ctx.addIssue({
          code: "custom",
          message: `${key} is only allowed with selector (this anchor uses ${sources[0]})`,
          path: [key],
        });
      }
    }
    if (bad) return z.NEVER;
    return raw.netns !== undefined
      ? { kind: "netns", netns: raw.netns }
      : { kind: "compartment", compartment: raw.compartment! };
  }
  return {
    kind: "selector",
    selector: raw.selector,
    namespace: raw.namespace ?? "default",
    ...(raw.node !== undefined ? { node: raw.node } : {}),
    pick: raw.pick ?? "exactly-one",
    timeoutMs: raw.timeout ?? 120_000,
  };
});

const backoffSchema = z.strictObject({
  initial: duration.prefault("1s").describe("First delay before a restart"),
  max: duration.prefault("5m").describe("Longest delay between restarts"),
  resetAfter: duration.prefault("10m").describe(
    "A run at least this long resets the delay to initial",
  ),
});

const restartSchema = z.strictObject({
  policy: z.enum(["always", "on-failure", "never"]).default("on-failure"),
  backoff: backoffSchema.prefault({}),
});

const httpCheck = z.strictObject({
  port,
  path: z.string().startsWith("/", "an HTTP path starts with /").default("/"),
});

const probeSchema = z.strictObject({
  http: httpCheck.optional(),
  tcp: z.strictObject({ port }).optional(),
  period: duration.prefault("10s"),
  timeout: duration.prefault("1s"),
  failureThreshold: z.number().int().min(1).default(3),
  successThreshold: z.number().int().min(1).default(1),
  initialDelay: duration.prefault("0s"),
}).superRefine((probe, ctx) => {
  if ((probe.http === undefined) === (probe.tcp === undefined)) {
    ctx.addIssue({ code: "custom", message: "a probe needs exactly one of http or tcp" });
  }
});

const SIZE = /^(\d+)(B|KB|MB|GB|KiB|MiB|GiB)?$/;
const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
};
const size = z.string().transform((text, ctx) => {
  const match = SIZE.exec(text);
  if (!match) {
    ctx.addIssue({
      code: "custom",
      message: `${JSON.stringify(text)} is not a size (e.g. 10MiB, 500KB)`,
    });
    return z.NEVER;
  }
  return Number(match[1]) * SIZE_UNITS[match[2] ?? "B"];
});

const logsSchema = z.strictObject({
  dir: z.string().min(1).describe("Directory for <workload>.log files"),
  maxSize: size.prefault("10MiB").describe("Rotate when the current file reaches this size"),
  keep: z.number().int().min(0).default(5).describe("Rotated files to keep"),
  maxAge: duration.optional().describe("Delete rotated files older than this"),
});

const envValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const workloadSchema = z.strictObject({
  anchor: name.describe("Name of the anchor whose network the workload joins"),
  command: z.array(z.string()).min(1, "command needs at least the program").describe(
    "argv array; the first element is the program",
  ),
  env: z.record(z.string().regex(/^[^=\0]+$/, "not a valid variable name"), envValue)
    .default({}),
  cwd: z.string().min(1).optional(),
  sha256: z.string().regex(/^([0-9a-fA-F]{64}|auto)$/, "sha256 must be 64 hex digits or auto")
    .transform((s) => s.toLowerCase()).optional().describe(
      "Refuse to launch a program with another SHA-256 digest; auto: the digest recorded in the lock file by `cplauncher plan --pin`",
    ),
  programOwner: z.enum(["root", "any"]).optional().describe(
    "Linux, pinned programs: root (default) refuses a program not owned by root or writable by group or others; any allows it",
  ),
  port: port.optional().describe("Verify the workload listens on this TCP port in the anchor"),
  restart: restartSchema.prefault({}),
  stopTimeout: duration.prefault("10s"),
  startupTimeout: duration.prefault("30s").describe(
    "How long `port` may take to appear before the launch counts as failed",
  ),
  probes: z.strictObject({
    readiness: probeSchema.optional(),
    liveness: probeSchema.optional(),
    startup: probeSchema.optional(),
  }).default({}),
  logs: logsSchema.optional(),
  windows: z.strictObject({
    strategy: z.enum(["job", "self"]).default("job"),
    compartmentEnv: z.string().min(1).default("COMPARTMENT_ID_ATTACH"),
  }).prefault({}),
});

const documentSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, `apiVersion must be "${API_VERSION}"`),
  kubernetes: kubernetesSchema.prefault({}),
  health: z.strictObject({
    port,
    address: z.string().default("0.0.0.0"),
  }).optional().describe("Serve /healthz, /readyz and /metrics for kubelet probes"),
  anchors: z.record(name, anchorSchema).describe("Named network anchors"),
  workloads: z.record(name, workloadSchema).describe("Named processes to launch"),
});

/** The whole compartments.yaml document; parsing it yields a {@linkcode Config}. */
export const configSchema: z.ZodType<Config> = documentSchema;

/** Whether `A` and `B` are the same type, not merely assignable to each other. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;

// The written-out types in types.ts are what users read; these fail to compile as soon as the
// schema and those types disagree in any field, optionality or literal.
const _configMatchesSchema: Same<z.output<typeof documentSchema>, Config> = true;
const _pickModesMatch: Same<(typeof PICK_MODES)[number], PickMode> = true;

/**
 * The JSON Schema of compartments.yaml, for editors.
 *
 * @example Write the schema for an editor's YAML language server
 * ```ts
 * import { configJsonSchema } from "@cplauncher/cplauncher";
 *
 * const schema = configJsonSchema();
 * const text = JSON.stringify(schema, null, 2); // e.g. saved as compartments.schema.json
 * if (schema.title !== "cplauncher compartments.yaml" || text.length === 0) throw new Error();
 * ```
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, {
    io: "input",
    unrepresentable: "any",
    target: "draft-2020-12",
  }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: "https://cplauncher.dev/schema/compartments.schema.json",
    title: "cplauncher compartments.yaml",
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== "$schema")),
  };
}
