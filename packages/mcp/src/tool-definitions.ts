import { toolDescriptor, TOOLS } from '@harombe/core';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { DeploymentFacts } from './deployment-facts.js';
import {
  MCP_TOOL_NAMES,
  PARAMETER_DESCRIPTIONS,
  TOOL_TITLES,
  toolDescriptions,
  type McpToolName,
} from './tool-descriptions.js';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, Record<string, unknown>> };

/**
 * The JSON Schema of a contract, as McpServer would generate it (draft-07): `io: 'input'` for
 * parameters, so that fields with a default are optional; `io: 'output'` for results.
 */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  return z.toJSONSchema(schema, { io, target: 'draft-7' }) as JsonSchema;
}

/** The input schema of a tool with its parameters described; a description of no parameter is a bug. */
function inputSchemaOf(tool: McpToolName): Tool['inputSchema'] {
  const schema = jsonSchemaOf(TOOLS[tool].params, 'input');
  const properties = schema.properties ?? {};
  for (const [name, description] of Object.entries(PARAMETER_DESCRIPTIONS[tool])) {
    const property = properties[name];
    if (!property) throw new Error(`${tool} has no parameter ${name} to describe`);
    property.description = description;
  }
  return schema as Tool['inputSchema'];
}

/** The tools as tools/list answers them, their schemas generated from the core contracts. */
export function toolDefinitions(facts: DeploymentFacts): Tool[] {
  const descriptions = toolDescriptions(facts);
  return MCP_TOOL_NAMES.map((name) => ({
    name,
    title: TOOL_TITLES[name],
    description: descriptions[name],
    inputSchema: inputSchemaOf(name),
    outputSchema: jsonSchemaOf(TOOLS[name].result, 'output') as Tool['outputSchema'],
    annotations: { title: TOOL_TITLES[name], ...toolDescriptor(name).hints },
  }));
}
