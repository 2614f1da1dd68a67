/**
 * `cplauncher validate`: check a config and summarise it in one line.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { loadConfig } from "../config/mod.ts";
import { type CommandContext, configOption, resolveConfigPath } from "./options.ts";

/** Installs `validate`. */
export function validateCommand(program: Command, context: () => CommandContext): void {
  program.command("validate")
    .description("check a config file; prints a one-line summary or every error (exit 2)")
    .addOption(configOption())
    .action(async (options) => {
      const path = resolveConfigPath(options.config);
      const config = await loadConfig(path);
      const anchors = Object.keys(config.anchors).length;
      const workloads = Object.keys(config.workloads).length;
      context().io.out(
        `${path}: ok (${anchors} anchor${anchors === 1 ? "" : "s"}, ${workloads} workload${
          workloads === 1 ? "" : "s"
        })\n`,
      );
    });
}
