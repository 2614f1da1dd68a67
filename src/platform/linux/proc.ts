/**
 * Small `/proc` helpers: process liveness and process trees.
 *
 * @module
 */

/** Parent pid and state letter of `pid` from `/proc/PID/stat`, or null if it's gone. */
export function procStat(pid: number): { ppid: number; state: string } | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // Format: "pid (comm) state ppid ..."; comm may itself contain spaces and parentheses,
  // so split after the *last* ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: rest[0], ppid: Number(rest[1]) };
}

/** True while `pid` exists and is not a zombie (a zombie has already died). */
export function isAlive(pid: number): boolean {
  const st = procStat(pid);
  return st !== null && st.state !== "Z" && st.state !== "X";
}

/** `pid` and all its live descendants (children first seen via their ppid), `pid` first. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const child = Number(e.name);
    const st = procStat(child);
    if (st === null) continue;
    const list = children.get(st.ppid);
    if (list) list.push(child);
    else children.set(st.ppid, [child]);
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]) ?? []));
  return out;
}
