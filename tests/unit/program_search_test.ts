/**
 * The one program lookup both backends make (src/platform/program.ts), against an in-memory
 * file system: Linux and Windows spelling, cwd, the workload's PATH over the launcher's, the
 * execute bit, PATHEXT, and one-line errors naming the directories searched and the cwd.
 */
import assert from "node:assert/strict";
import { isPlatformError } from "../../src/platform/errors.ts";
import {
  type Candidate,
  findProgram,
  type ProgramSearch,
  workloadVariable,
} from "../../src/platform/program.ts";

type Files = Record<string, Candidate>;

function search(
  os: "linux" | "windows",
  name: string,
  files: Files,
  options: {
    cwd?: string;
    env?: Record<string, string>;
    launcher?: Record<string, string>;
  } = {},
): ProgramSearch {
  const launcherCwd = os === "windows" ? "C:\\launcher" : "/launcher";
  return {
    name,
    os,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    launcherCwd,
    variable: (v) =>
      workloadVariable(options.env ?? {}, v, os, (n) => {
        const launcher = options.launcher ?? {};
        const key = Object.keys(launcher).find((k) =>
          os === "windows" ? k.toUpperCase() === n.toUpperCase() : k === n
        );
        return key === undefined ? undefined : launcher[key];
      }),
    probe: (path) =>
      files[os === "windows" ? path.toLowerCase() : path] ?? { kind: "missing" as const },
  };
}

function failure(s: ProgramSearch): { kind: string; message: string } {
  try {
    const found = findProgram(s);
    throw new Error(`found ${found}`);
  } catch (error) {
    assert.ok(isPlatformError(error), String(error));
    return { kind: error.kind, message: error.message };
  }
}

const exe = (mode = 0o100755): Candidate => ({ kind: "file", mode });

Deno.test("linux: a name with a slash is relative to the workload's cwd, then the launcher's", () => {
  const files = { "/opt/app/server": exe(), "/launcher/bin/tool": exe() };
  assert.equal(
    findProgram(search("linux", "./server", files, { cwd: "/opt/app" })),
    "/opt/app/server",
  );
  assert.equal(
    findProgram(search("linux", "../app/server", files, { cwd: "/opt/x" })),
    "/opt/app/server",
  );
  assert.equal(findProgram(search("linux", "bin/tool", files)), "/launcher/bin/tool");
  assert.equal(
    findProgram(search("linux", "/opt/app/server", files, { cwd: "/x" })),
    "/opt/app/server",
  );
  // A cwd relative to the launcher's.
  assert.equal(findProgram(search("linux", "./tool", files, { cwd: "bin" })), "/launcher/bin/tool");
});

Deno.test("linux: a bare name is searched on the workload's PATH, else the launcher's, else the default", () => {
  const files = { "/w/tool": exe(), "/l/tool": exe(), "/usr/bin/tool": exe() };
  const both = { env: { PATH: "/w" }, launcher: { PATH: "/l" } };
  assert.equal(findProgram(search("linux", "tool", files, both)), "/w/tool");
  assert.equal(
    findProgram(search("linux", "tool", files, { launcher: { PATH: "/l" } })),
    "/l/tool",
  );
  assert.equal(findProgram(search("linux", "tool", files)), "/usr/bin/tool");
  // Empty entries are skipped; relative ones are relative to the cwd.
  const relative = { env: { PATH: "::bin" }, cwd: "/w/.." };
  assert.equal(findProgram(search("linux", "x", { "/bin/x": exe() }, relative)), "/bin/x");
  // The cwd itself is not searched for a bare name.
  assert.equal(
    failure(search("linux", "x", { "/c/x": exe() }, { cwd: "/c", env: { PATH: "" } })).message,
    'program "x" not found (the workload\'s PATH is empty, so nothing was searched; cwd /c)',
  );
});

Deno.test("linux: the first file with an execute bit wins; one without is named in the error", () => {
  const files = {
    "/a/tool": exe(0o100644),
    "/b/tool": { kind: "directory" } as const,
    "/c/tool": exe(0o100700),
  };
  assert.equal(
    findProgram(search("linux", "tool", files, { env: { PATH: "/a:/b:/c" } })),
    "/c/tool",
  );
  const e = failure(search("linux", "tool", files, { env: { PATH: "/a:/b" }, cwd: "/srv" }));
  assert.equal(e.kind, "command-not-found");
  assert.equal(
    e.message,
    'program "tool" cannot be started: /a/tool has mode 0644, no execute bit ' +
      "(searched the workload's PATH: /a:/b; cwd /srv)",
  );
  const dir = failure(search("linux", "./tool", files, { cwd: "/b" }));
  assert.equal(
    dir.message,
    'program "./tool" cannot be started: /b/tool is a directory (searched /b; cwd /b)',
  );
});

Deno.test("linux: not found names the directories searched and the cwd, on one line", () => {
  const e = failure(
    search("linux", "server", {}, { env: { PATH: "/usr/bin:/bin" }, cwd: "/opt/app" }),
  );
  assert.equal(e.kind, "command-not-found");
  assert.equal(
    e.message,
    'program "server" not found (searched the workload\'s PATH: /usr/bin:/bin; cwd /opt/app)',
  );
  const relative = failure(search("linux", "./server", {}, { cwd: "/opt/app" }));
  assert.equal(relative.message, 'program "./server" not found (searched /opt/app; cwd /opt/app)');
  const defaults = failure(search("linux", "nope", {}));
  assert.match(
    defaults.message,
    /searched the default PATH: \/usr\/local\/sbin:.*:\/bin; cwd \/launcher\)$/,
  );
  assert.equal(failure(search("linux", "", {})).kind, "invalid-command");
  assert.equal(failure(search("linux", "a\0b", {})).kind, "invalid-command");
});

Deno.test("windows: PATHEXT, case-insensitive variables, drive and relative paths", () => {
  const files = {
    "c:\\tools\\app.exe": exe(),
    "c:\\tools\\job.cmd": exe(),
    "d:\\svc\\server.exe": exe(),
    "c:\\work\\bin\\x.com": exe(),
  };
  const win = (name: string, options = {}) => search("windows", name, files, options);
  const path = { env: { Path: 'C:\\tools;"D:\\svc"' } };
  assert.equal(findProgram(win("app", path)), "C:\\tools\\app.exe");
  assert.equal(findProgram(win("job", path)), "C:\\tools\\job.cmd");
  assert.equal(findProgram(win("server", path)), "D:\\svc\\server.exe");
  assert.equal(findProgram(win("app.exe", path)), "C:\\tools\\app.exe");
  // The launcher's Path, when the workload has none.
  assert.equal(findProgram(win("app", { launcher: { PATH: "C:\\tools" } })), "C:\\tools\\app.exe");
  // A workload PATHEXT narrows the extensions tried.
  assert.equal(
    failure(win("job", { env: { ...path.env, PATHEXT: ".EXE" } })).kind,
    "command-not-found",
  );
  // Relative to the workload's cwd, with or without an extension; forward slashes too.
  assert.equal(findProgram(win(".\\bin\\x", { cwd: "C:\\work" })), "C:\\work\\bin\\x.com");
  assert.equal(findProgram(win("bin/x.com", { cwd: "C:\\work" })), "C:\\work\\bin\\x.com");
  assert.equal(findProgram(win("D:\\svc\\server")), "D:\\svc\\server.exe");
  const e = failure(win("server", { env: { PATH: "C:\\tools" }, cwd: "D:\\svc" }));
  assert.equal(
    e.message,
    'program "server" not found (searched the workload\'s PATH: C:\\tools; cwd D:\\svc)',
  );
  assert.match(
    failure(win("app")).message,
    /no PATH is set, so nothing was searched; cwd C:\\launcher/,
  );
});
