/**
 * `cplauncher validate`: check a config and summarise it in one line; with a lock file, also
 * check its program digests against this node's programs.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { loadConfig } from "../config/mod.ts";
import { createPlatform } from "../platform/mod.ts";
import { CliError, EXIT_USAGE } from "./exit_codes.ts";
import { checkLock } from "./lock.ts";
import { type CommandContext, configOption, resolveConfigPath } from "./options.ts";

/** Installs `validate`. */
export function validateCommand(program: Command, context: () => CommandContext): void {
  program.command("validate")
    .description(
      "check a config file (and its lock file's digests); prints a one-line summary or every " +
        "error (exit 2)",
    )
    .addOption(configOption())
    .action(async (options) => {
      const path = resolveConfigPath(options.config);
      const config = await loadConfig(path);
      const anchors = Object.keys(config.anchors).length;
      const workloads = Object.keys(config.workloads).length;
      const lock = await checkLock(config, path, () => createPlatform());
      const io = context().io;
      if (lock && lock.problems.length > 0) {
        for (const problem of lock.problems) io.err(`${lock.path}: ${problem}\n`);
        throw new CliError(
          `${lock.path}: ${lock.problems.length} workload(s) not pinned as the lock file says; ` +
            "record it again with `cplauncher plan --pin`",
          EXIT_USAGE,
        );
      }
      const pinned = lock
        ? `; ${lock.path}: ${lock.skipped ?? `${lock.checked} program(s) match`}`
        : "";
      io.out(
        `${path}: ok (${anchors} anchor${anchors === 1 ? "" : "s"}, ${workloads} workload${
          workloads === 1 ? "" : "s"
        }${pinned})\n`,
      );
    });
}
