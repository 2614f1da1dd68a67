/**
 * `cplauncher render`: the Kubernetes manifests that run a config, as multi-document YAML
 * on stdout or as a kustomize folder (`--out DIR`). Warnings go to stderr.
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import { readConfigText } from "../config/mod.ts";
import {
  DEFAULT_IMAGE,
  DEFAULT_LAUNCHER_PATH,
  DEFAULT_NAME,
  DEFAULT_PAUSE_IMAGE,
  type HeaderInfo,
  parseAnnotation,
  render,
  RenderError,
  type RenderOptions,
  toKustomizeFiles,
  toYamlStream,
} from "../render/mod.ts";
import { CliError, EXIT_USAGE } from "./exit_codes.ts";
import { type CommandContext, configOption, resolveConfigPath } from "./options.ts";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Parses `--replicas`: a whole number of at least 1. */
export function parseReplicas(text: string): number {
  const n = /^[0-9]+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new CliError(
      `--replicas: expected a whole number of at least 1, got "${text}"`,
      EXIT_USAGE,
    );
  }
  return n;
}

function quoteArg(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Installs `render`. */
export function renderCommand(program: Command, context: () => CommandContext): void {
  program.command("render")
    .description(
      "generate the Kubernetes objects that run a config: RBAC, ConfigMap, anchor and launcher Deployments, Services",
    )
    .addOption(configOption())
    .addOption(
      new Option(
        "--platform <os>",
        "OS of the nodes (default: from the config's netns/compartment anchors)",
      ).choices(["linux", "windows"] as const),
    )
    .option("--image <image>", `launcher image (default ${DEFAULT_IMAGE})`)
    .option(
      "--launcher-path <path>",
      `launcher executable in its container (default ${DEFAULT_LAUNCHER_PATH.windows} on Windows, ${DEFAULT_LAUNCHER_PATH.linux} on Linux)`,
    )
    .option("--replicas <n>", "launchers, and anchors per anchor; above 1 needs pick: claim", "1")
    .option(
      "--anchor-annotation <key=value>",
      "annotation on the anchor pods, e.g. for mesh injection (repeatable)",
      collect,
      [] as string[],
    )
    .option("--name <name>", `base name of the generated objects (default ${DEFAULT_NAME})`)
    .option(
      "--namespace <ns>",
      "namespace of the launcher, its ServiceAccount and ConfigMap (default: the anchors')",
    )
    .option("--pause-image <image>", `anchor pod image (default ${DEFAULT_PAUSE_IMAGE})`)
    .option("--out <dir>", "write a kustomize folder (kustomization.yaml + files) instead")
    .action(async (options) => {
      const { io } = context();
      const configFile = resolveConfigPath(options.config);
      const replicas = parseReplicas(options.replicas);
      const annotations = options.anchorAnnotation.map((text) => {
        try {
          return parseAnnotation(text);
        } catch (error) {
          throw new CliError(
            `--anchor-annotation: ${error instanceof Error ? error.message : error}`,
            EXIT_USAGE,
          );
        }
      });
      const configText = await readConfigText(configFile);
      const renderOptions: RenderOptions = {
        configText,
        configFile,
        env: (name) => Deno.env.get(name),
        replicas,
        anchorAnnotations: annotations,
        ...(options.platform ? { platform: options.platform } : {}),
        ...(options.image !== undefined ? { image: options.image } : {}),
        ...(options.launcherPath !== undefined ? { launcherPath: options.launcherPath } : {}),
        ...(options.pauseImage !== undefined ? { pauseImage: options.pauseImage } : {}),
        ...(options.name !== undefined ? { name: options.name } : {}),
        ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
      };
      let result;
      try {
        result = render(renderOptions);
      } catch (error) {
        if (error instanceof RenderError) throw new CliError(error.message, EXIT_USAGE);
        throw error;
      }
      for (const warning of result.warnings) io.err(`cplauncher: warning: ${warning}\n`);

      // The command that reproduces this output, in a fixed spelling (no --out).
      const args = ["cplauncher", "render", "-c", configFile, "--platform", result.platform];
      if (replicas !== 1) args.push("--replicas", String(replicas));
      for (
        const [flag, value] of [
          ["--image", options.image],
          ["--launcher-path", options.launcherPath],
          ["--pause-image", options.pauseImage],
          ["--name", options.name],
          ["--namespace", options.namespace],
        ] as const
      ) {
        if (value !== undefined) args.push(flag, value);
      }
      for (const [key, value] of annotations) args.push("--anchor-annotation", `${key}=${value}`);
      const info: HeaderInfo = {
        configFile,
        platform: result.platform,
        command: args.map(quoteArg).join(" "),
      };

      if (options.out === undefined) {
        io.out(toYamlStream(result.objects, info));
        return;
      }
      const files = toKustomizeFiles(result, info);
      try {
        await Deno.mkdir(options.out, { recursive: true });
        for (const file of files) {
          await Deno.writeTextFile(`${options.out}/${file.name}`, file.text);
        }
      } catch (error) {
        throw new CliError(
          `--out ${options.out}: ${error instanceof Error ? error.message.split("\n")[0] : error}`,
          EXIT_USAGE,
        );
      }
      io.out(
        `${options.out}: wrote ${result.objects.length} objects for ${result.platform} (${
          files.map((f) => f.name).join(", ")
        }); apply with: kubectl apply -k ${options.out}\n`,
      );
    });
}
