import {
  bytes,
  duration,
  languageDescriptor,
  LANGUAGES,
  listInProse,
  TOOL_NAMES,
  toolDescriptor,
  type ToolName,
} from '@harombe/core';
import type { DeploymentFacts } from './deployment-facts.js';

export { bytes, duration };

/** The tools of the core catalogue (the reference design's six, code_create_sandbox), as MCP offers them. */
export const MCP_TOOL_NAMES: readonly ToolName[] = TOOL_NAMES;
export type McpToolName = ToolName;

function perTool<T>(value: (tool: McpToolName) => T): Record<McpToolName, T> {
  return Object.fromEntries(MCP_TOOL_NAMES.map((tool) => [tool, value(tool)])) as Record<McpToolName, T>;
}

/** Each tool's title (its catalogue entry's). */
export const TOOL_TITLES: Readonly<Record<McpToolName, string>> = perTool((tool) => toolDescriptor(tool).title);

/** What each tool does, what it costs in approval and what persists, with the deployment's limits. */
export function toolDescriptions(facts: DeploymentFacts): Record<McpToolName, string> {
  return perTool((tool) => toolDescriptor(tool).describe(facts));
}

/** What each parameter means; added to the JSON Schemas of the contracts. */
export const PARAMETER_DESCRIPTIONS: Readonly<Record<McpToolName, Readonly<Record<string, string>>>> = perTool(
  (tool) => toolDescriptor(tool).parameters as Readonly<Record<string, string>>,
);

/** What the server says about itself at initialization. */
export function serverInstructions(facts: DeploymentFacts): string {
  const languages = listInProse(
    LANGUAGES.map((language) => languageDescriptor(language).title),
    'and',
  );
  return [
    `Harombe Fleet runs untrusted ${languages} code in gVisor sandboxes.`,
    `code_execute runs a program in a one-shot sandbox, removed afterwards, unless keep_sandbox is true; a kept sandbox (its sandbox_id; code_create_sandbox makes one up front) serves the file tools and later runs until code_destroy_sandbox or ${duration(facts.idleTimeoutSeconds)} unused.`,
    'Most calls wait for a person to approve them (the policy rates each call LOW to CRITICAL; a person has 30 to 120 s by default). Ask for progress notifications (a progressToken) to hear that a call waits, and keep the request open meanwhile: with the SDK, resetTimeoutOnProgress or a timeout above two minutes.',
  ].join(' ');
}
