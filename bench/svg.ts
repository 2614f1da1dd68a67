/**
 * The latency chart of `docs/benchmarks.svg`, drawn by hand from the results JSON: one
 * panel per latency benchmark (P1 per workload, P2), one row per contender. Measured rows
 * show every trial as a dot over a box (p25–p75), a median bar, a p90 tick and a min–max
 * whisker; the modelled Go row has the box and whisker only, dashed. Log time axis, so
 * tens of milliseconds and the modelled seconds fit on one scale.
 *
 * @module
 */
import type { Results, SummaryJson } from "./lib/results.ts";

interface ChartRow {
  label: string;
  color: string;
  summary: SummaryJson;
  samples?: number[];
  modelled?: boolean;
}

interface Panel {
  title: string;
  rows: ChartRow[];
}

const OURS = "#1f6fb4";
const BASELINE = "#d1495b";
const MODEL = "#7a7a7a";
const WIDTH = 920;
const LEFT = 230;
const RIGHT = 110;
const ROW = 34;

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function ticks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out;
}

/** The largest 1-2-5 step value ≤ v. */
function niceBelow(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  return [5, 2, 1].map((m) => m * e).find((x) => x <= v) ?? e;
}

/** The smallest 1-2-5 step value ≥ v. */
function niceAbove(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * e).find((x) => x >= v) ?? 10 * e;
}

function label(v: number): string {
  return v >= 1000 ? `${v / 1000} s` : `${v} ms`;
}

function panelsOf(results: Results): Panel[] {
  const panels: Panel[] = [];
  for (const p of Object.values(results.runs.P1)) {
    panels.push({
      title: `P1 readiness → serving (${p.workload}), ms`,
      rows: [
        { label: "cplauncher (ours)", color: OURS, summary: p.ours, samples: p.samples.ours },
        {
          label: "kubectl + ip + nsenter",
          color: BASELINE,
          summary: p.baseline,
          samples: p.samples.baseline,
        },
        { label: "Go cplauncher (modelled)", color: MODEL, summary: p.goModelled, modelled: true },
      ],
    });
  }
  const p2 = results.runs.P2;
  panels.push({
    title: "P2 cold start → workload exec'd, ms",
    rows: [
      { label: "cplauncher exec (ours)", color: OURS, summary: p2.ours, samples: p2.samples.ours },
      {
        label: "kubectl + ip + nsenter",
        color: BASELINE,
        summary: p2.baseline,
        samples: p2.samples.baseline,
      },
      { label: "Go cplauncher (modelled)", color: MODEL, summary: p2.goModelled, modelled: true },
    ],
  });
  return panels;
}

/** The SVG document. */
export function renderSvg(results: Results): string {
  const panels = panelsOf(results);
  const values = panels.flatMap((p) =>
    p.rows.flatMap((r) => [r.summary.min, r.summary.max, ...(r.samples ?? [])])
  ).filter((v) => Number.isFinite(v) && v > 0);
  const lo = niceBelow(Math.max(0.1, Math.min(...values)));
  const hi = niceAbove(Math.max(...values));
  const plotW = WIDTH - LEFT - RIGHT;
  const x = (v: number) =>
    LEFT + (Math.log10(Math.max(v, lo)) - Math.log10(lo)) /
      (Math.log10(hi) - Math.log10(lo)) * plotW;
  const parts: string[] = [];
  let y = 50;
  for (const panel of panels) {
    const top = y;
    parts.push(
      `<text x="16" y="${top}" font-size="15" font-weight="bold">${esc(panel.title)}</text>`,
    );
    y += 14;
    const bottom = y + panel.rows.length * ROW;
    for (const t of ticks(lo, hi)) {
      const tx = x(t).toFixed(1);
      parts.push(
        `<line x1="${tx}" y1="${y}" x2="${tx}" y2="${bottom}" stroke="#e3e3e3" stroke-width="1"/>`,
      );
      parts.push(
        `<text x="${tx}" y="${bottom + 14}" font-size="11" text-anchor="middle" fill="#555">${
          label(t)
        }</text>`,
      );
    }
    panel.rows.forEach((r, i) => {
      const cy = y + i * ROW + ROW / 2;
      const s = r.summary;
      const dash = r.modelled ? ' stroke-dasharray="4 3"' : "";
      parts.push(
        `<text x="${LEFT - 10}" y="${cy + 4}" font-size="12" text-anchor="end">${
          esc(r.label)
        }</text>`,
      );
      if (!Number.isFinite(s.p50)) return;
      parts.push(
        `<line x1="${x(s.min).toFixed(1)}" y1="${cy}" x2="${x(s.max).toFixed(1)}" y2="${cy}" ` +
          `stroke="${r.color}" stroke-width="1.5"${dash}/>`,
      );
      const bx = x(s.p25);
      parts.push(
        `<rect x="${bx.toFixed(1)}" y="${cy - 9}" width="${
          Math.max(1, x(s.p75) - bx).toFixed(1)
        }" height="18" fill="${r.color}" fill-opacity="0.18" stroke="${r.color}"${dash}/>`,
      );
      const mx = x(s.p50).toFixed(1);
      parts.push(
        `<line x1="${mx}" y1="${cy - 11}" x2="${mx}" y2="${cy + 11}" stroke="${r.color}" ` +
          `stroke-width="3"/>`,
      );
      const px = x(s.p90).toFixed(1);
      parts.push(
        `<line x1="${px}" y1="${cy - 6}" x2="${px}" y2="${cy + 6}" stroke="${r.color}" ` +
          `stroke-width="1.5"/>`,
      );
      (r.samples ?? []).forEach((v, k) => {
        const jitter = ((k * 37) % 13 - 6) * 0.9;
        parts.push(
          `<circle cx="${x(v).toFixed(1)}" cy="${(cy + jitter).toFixed(1)}" r="2.4" ` +
            `fill="${r.color}" fill-opacity="0.55"/>`,
        );
      });
      parts.push(
        `<text x="${WIDTH - RIGHT + 10}" y="${cy + 4}" font-size="12" fill="${r.color}">p50 ${
          s.p50 >= 100 ? s.p50.toFixed(0) : s.p50.toFixed(1)
        } ms</text>`,
      );
    });
    y = bottom + 52;
  }
  const height = y - 10;
  const legend = `<text x="16" y="${height - 12}" font-size="11" fill="#555">` +
    "Dots: trials. Box: p25–p75. Thick bar: p50. Thin tick: p90. Line: min–max. Dashed: " +
    "modelled, not run (Go design: pod and compartment polled every 1 s). Log scale.</text>";
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
    `viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="16" y="24" font-size="17" font-weight="bold">cplauncher latency: ours vs ` +
    `baseline${results.runs.settings.smoke ? " (smoke run)" : ""}</text>`,
    ...parts,
    legend,
    "</svg>",
    "",
  ].join("\n");
}
