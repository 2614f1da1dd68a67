/**
 * The shape of bench/results/latest.json: goals, summaries and raw figures of every
 * benchmark. Shared by the runner, the report and the SVG.
 *
 * @module
 */

/** One goal line of the results. */
export interface Goal {
  id: "P1" | "P2" | "P3-time" | "P3-rss" | "P4" | "P5-time" | "P5-rss" | "P5-churn";
  ours: number;
  baseline: number | null;
  unit: string;
  ratio: number | null;
  goal: string;
  met: boolean;
}

/** The results file. */
export interface Results {
  machine: Record<string, unknown>;
  versions: Record<string, unknown>;
  goals: Goal[];
  runs: Runs;
}

/** p50/p90/… of a sample (see lib/stats.ts). */
export interface SummaryJson {
  n: number;
  min: number;
  p25: number;
  p50: number;
  p75: number;
  p90: number;
  max: number;
  mean: number;
}

/** A modelled (not run) distribution. */
export interface ModelJson extends SummaryJson {
  modelled: true;
  formula: string;
}

/** P1 figures of one workload. */
export interface P1Figures {
  workload: string;
  ours: SummaryJson;
  baseline: SummaryJson;
  oursReadyToExec: SummaryJson;
  baselineReadyToExec: SummaryJson;
  oursExecToServing: SummaryJson;
  baselineExecToServing: SummaryJson;
  workloadCpuMsAtServing: SummaryJson;
  workloadRssMBAtServing: SummaryJson;
  goModelled: ModelJson;
  failures: number;
  samples: { ours: number[]; baseline: number[] };
}

/** P3 figures of one size. */
export interface P3Figures {
  allServingMs: SummaryJson;
  firstServingMs: SummaryJson;
  launcherHwmMB: SummaryJson;
  launcherRssMB: SummaryJson;
  stopMs: SummaryJson;
  failures: number;
}

/** The launcher-side price of some watches, from fresh processes (see bench/lib/watch_probe.ts). */
export interface P5WatchCostFigures {
  /** `selectors`: K selector watches; `namespace`: one watch of every pod of the namespace. */
  kind: "selectors" | "namespace";
  /** K (1 for a namespace watch; 0: the code loaded, nothing opened). */
  watches: number;
  /** Whether the watches carried `spec.nodeName=…`. */
  nodeFiltered: boolean;
  /** First request → every watch listed and watching, ms. */
  readyMs: SummaryJson;
  /** Resident memory while watching, MB. */
  rssMB: SummaryJson;
  /** Open sockets of the process (p50). */
  sockets: number;
  /** Pods the watches held. */
  pods: number;
}

/** P5: discovery with N unrelated pods in the anchor's namespace vs an empty one. */
export interface P5Figures {
  settings: {
    unrelatedPods: number;
    trials: number;
    churnSeconds: number;
    probeSizes: number[];
    probeRepetitions: number;
    /** The hub's bound on selector watches per namespace and node when this was measured. */
    selectorWatchBound: number;
  };
  /** Size of one unrelated pod as JSON, bytes. */
  podJsonBytes: number;
  /** Size of the JSON list answering each query, bytes. */
  listBytes: { namespace: number; namespaceOnNode: number; anchorOnNode: number };
  emptyStartToExecMs: SummaryJson;
  crowdedStartToExecMs: SummaryJson;
  emptyPeakRssMB: SummaryJson;
  crowdedPeakRssMB: SummaryJson;
  churn: {
    seconds: number;
    operations: number;
    launcherBytes: number;
    launcherUnrelatedEvents: number;
    /** Events for the anchor itself (its status is written once mid-churn). */
    launcherAnchorEvents: number;
    launcherBookmarks: number;
    namespaceWatchBytes: number;
    namespaceWatchEvents: number;
  };
  watchCosts: P5WatchCostFigures[];
  failures: number;
  samples: { empty: number[]; crowded: number[] };
  /** When P5 was measured, and on which source (it may come from a run of its own). */
  notes: {
    finishedAt: string;
    loadAverageAtEnd: number[];
    commit: string;
    srcDigest: string;
    srcChangedDuringRun: boolean;
  };
}

/** Everything measured, raw and summarized. */
export interface Runs {
  settings: {
    smoke: boolean;
    trials: number;
    p1Workloads: string[];
    p3Sizes: number[];
    p3Trials: number;
    p4Bytes: number;
    p4LineBytes: number;
    p4Trials: number;
    scanSizes: number[];
    scanRepetitions: number;
    lightWorkload: string;
  };
  apiGetMs: SummaryJson;
  P1: Record<string, P1Figures>;
  P2: {
    /** The shipped bundle. */
    ours: SummaryJson;
    baseline: SummaryJson;
    /** The same launcher run from source (`deno run src/main.ts`). */
    source?: SummaryJson;
    /** A Deno process doing one `fetch()` list of the pod: the floor of any Deno launcher. */
    floor?: SummaryJson;
    oursToExit: SummaryJson;
    baselineToExit: SummaryJson;
    breakdown: {
      denoStartMs: SummaryJson;
      /** Importing client-node from source in a fresh process. */
      clientNodeImportMs: SummaryJson;
      /** Importing the bundle's client-node chunk in a fresh process. */
      bundleClientNodeImportMs?: SummaryJson;
      /** The bundle's `--version`. */
      launcherVersionMs: SummaryJson;
      /** `--version` from source. */
      sourceVersionMs?: SummaryJson;
      kubectlGetMs: SummaryJson;
      /** Peak RSS of a Deno process with an empty module, MB (absent in older results). */
      denoEmptyHwmMB?: SummaryJson;
      /** Peak RSS of a Deno process after importing client-node from source, MB. */
      clientNodeHwmMB?: SummaryJson;
      /** Peak RSS of a Deno process after importing the bundle's client-node chunk, MB. */
      bundleClientNodeHwmMB?: SummaryJson;
    };
    goModelled: ModelJson;
    failures: number;
    samples: { ours: number[]; baseline: number[]; source?: number[]; floor?: number[] };
  };
  P3: {
    workload: string;
    sizes: Record<string, P3Figures>;
    /** The largest size again with the albums service as every workload. */
    albums: Record<string, P3Figures>;
    /** The largest size with the light workload, the launcher run from source. */
    source?: Record<string, P3Figures>;
  };
  P4: {
    payloadBytes: number;
    /** Launcher stdout on /dev/null: workload exec → launcher exit (the goal's figure). */
    oursDevNullMBps?: SummaryJson;
    oursMBps: SummaryJson;
    oursEndToEndMBps: SummaryJson;
    catDevNullMBps: SummaryJson;
    /** `cat` through the same kind of pipe into the same reader as ours (the goal's baseline). */
    catCountedMBps: SummaryJson;
    bytesLost: number[];
    /** Relayed lines that were not one whole prefixed payload line (interleaved or cut). */
    badLines?: number[];
    launcherPeakRssMB: SummaryJson;
    failures: number;
  };
  /** Absent in results measured before P5 existed. */
  P5?: P5Figures;
  scan: {
    made: number;
    scanned: number;
    named: number;
    oursMs: SummaryJson;
    baselineMs: SummaryJson;
  }[];
  notes: {
    loadAverageAtEnd: number[];
    durationSeconds: number;
    finishedAt: string;
    /** The launcher's `src/` changed between the start and the end of the run. */
    srcChangedDuringRun?: boolean;
  };
  trials: Record<string, unknown[]>;
}
