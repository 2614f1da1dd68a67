/**
 * `render`: a config → the Kubernetes objects that run it. Pure: reads no files, contacts
 * nothing; the same options always give the same objects in the same order.
 *
 * What is generated, for a launcher named NAME:
 * - ServiceAccount NAME in the launcher namespace; in every anchor namespace a Role NAME
 *   (pods get/list/watch, plus patch when an anchor there uses `pick: claim`) and a
 *   RoleBinding NAME to the ServiceAccount; for anchors in every namespace (`namespace:
 *   "*"`) the same as a ClusterRole and ClusterRoleBinding NAMESPACE:NAME.
 * - ConfigMap NAME-config holding the config text as written.
 * - For each selector anchor used by a workload: Deployment NAME-anchor-ANCHOR of pause
 *   containers carrying the selector's labels, in the anchor's namespace (the launcher's
 *   for `namespace: "*"`).
 * - Deployment NAME, the launcher: HostProcess (Windows) or privileged with hostPID
 *   (Linux), host network, `run -c <mounted config>`.
 * - A Service per workload with a `port`, selecting its anchor pods.
 *
 * Two steps: {@linkcode planRender} takes every decision and refusal, then
 * {@linkcode buildManifests} turns the plan into objects.
 *
 * @module
 */
import { parseConfigForRender } from "./config.ts";
import {
  anchorDeployment,
  configMapObject,
  launcherDeployment,
  rbacObjects,
  serviceObject,
} from "./objects.ts";
import { planRender, type RenderPlan } from "./plan.ts";
import type { RenderFile, RenderOptions, RenderResult } from "./types.ts";

/**
 * Generates the objects for a config.
 *
 * @throws {ConfigError} when the config text is invalid (positioned issues).
 * @throws {RenderError} when the config or an option cannot be rendered (one line).
 */
export function render(options: RenderOptions): RenderResult {
  const parsed = parseConfigForRender(
    options.configText,
    options.configFile ?? "<string>",
    options.env ?? (() => undefined),
  );
  return buildManifests(planRender(parsed, options));
}

/** The objects of a plan, grouped into the files of a kustomize folder. */
export function buildManifests(plan: RenderPlan): RenderResult {
  const anchors = plan.anchors.map((_, index) => anchorDeployment(plan, index));
  const services = plan.services.map((service) => serviceObject(plan, service));
  const files: RenderFile[] = [
    { name: "rbac.yaml", objects: rbacObjects(plan) },
    { name: "config.yaml", objects: [configMapObject(plan)] },
    ...(anchors.length > 0 ? [{ name: "anchors.yaml", objects: anchors }] : []),
    { name: "launcher.yaml", objects: [launcherDeployment(plan)] },
    ...(services.length > 0 ? [{ name: "services.yaml", objects: services }] : []),
  ];
  return {
    platform: plan.platform,
    objects: files.flatMap((f) => f.objects),
    files,
    warnings: plan.warnings,
  };
}
