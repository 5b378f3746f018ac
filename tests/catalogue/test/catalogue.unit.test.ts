import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarombeClient, toolMethodName } from '@harombe/client';
import {
  CodeInstallPackageParams,
  isHarombeError,
  languageDescriptor,
  LANGUAGES,
  parseConfig,
  Registry,
  REGISTRIES,
  REGISTRY_LANGUAGES,
  TOOL_NAMES,
  toolDescriptor,
  TOOLS,
  type JobView,
  type LaunchProtocol,
  type ToolName,
} from '@harombe/core';
import { DEFAULT_FACTS, serverInstructions, toolDefinitions } from '@harombe/mcp';
import { DEFAULT_RULES, RiskPolicy } from '@harombe/policy';
import { failedToolResult, type JobRecord } from '@harombe/queue';
import { CodeExecutionTools, SandboxManager, TOOL_EXECUTORS } from '@harombe/sandbox';
import { approvalRequest, payloadOf } from '@harombe/slack-approvals';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The catalogue in core (TOOLS, LANGUAGE_CATALOGUE) is the one place a tool or a language is
 * described; every other part derives what it needs from it. These checks walk every entry and
 * fail while one lacks a piece that cannot be derived (a tool's implementation, a language's
 * image recipe) or while a part stops deriving from the catalogue.
 */

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** A tool's example call, with its defaults applied (as the API stores it). */
function exampleParams(tool: ToolName): Record<string, unknown> {
  const descriptor = toolDescriptor(tool);
  return descriptor.params.parse(descriptor.example) as Record<string, unknown>;
}

function jobRecord(tool: ToolName, params: Record<string, unknown>): JobRecord {
  return {
    job_id: 'job-0123456789abcdef01234567',
    tenant: 'acme',
    submitted_by: 'alice',
    submitted_by_slack: null,
    tool,
    params,
    status: 'awaiting_approval',
    risk: 'HIGH',
    risk_reason: 'a reason',
    risk_matched: null,
    created_at: 1_700_000_000_000,
    started_at: null,
    finished_at: null,
    batch_id: null,
    attempts: 0,
    max_attempts: 1,
    approval: {
      approval_id: 'approval-0123456789abcdef01234567',
      status: 'pending',
      risk: 'HIGH',
      expires_at: '2023-11-14T22:14:20.000Z',
      decided_by: null,
      decided_at: null,
      reason: null,
      channel: null,
    },
    approval_deadline: 1_700_000_060_000,
    result: null,
    error: null,
    sandbox_id: null,
    worker_id: null,
    payload_sha256: '0'.repeat(64),
  };
}

describe('every tool of the catalogue', () => {
  it.each(TOOL_NAMES)('%s: its descriptor is complete and consistent', (tool) => {
    const descriptor = toolDescriptor(tool);
    expect(descriptor.params.safeParse(descriptor.example).success).toBe(true);
    expect(descriptor.title).not.toBe('');
    expect(descriptor.describe(DEFAULT_FACTS).length).toBeGreaterThan(40);
    // A description for each parameter, and none for a parameter that does not exist.
    const definition = toolDefinitions(DEFAULT_FACTS).find((d) => d.name === tool);
    const properties = Object.keys(definition?.inputSchema.properties ?? {});
    expect(Object.keys(descriptor.parameters).sort()).toEqual([...properties].sort());
    expect(Object.values(descriptor.parameters as Record<string, string>).every((text) => text.trim() !== '')).toBe(
      true,
    );
  });

  it.each(TOOL_NAMES)('%s: a job that does not run ends with a result of its own shape', (tool) => {
    const params = exampleParams(tool);
    const result = failedToolResult(tool, params, 'Cancelled', 'cancelled by alice');
    const parsed = toolDescriptor(tool).result.safeParse(result);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(result).toMatchObject({ success: false, error: 'Cancelled' });
  });

  it.each(TOOL_NAMES)('%s: the worker dispatches it to an implementation that answers its result', async (tool) => {
    expect(TOOL_EXECUTORS[tool]).toBeTypeOf('function');
    // Parameters the tool refuses: its implementation answers before it needs Docker (none here).
    const tools = new CodeExecutionTools(new SandboxManager());
    const result = await tools.run(tool, { params: { not_a_parameter: true }, owner: 'acme' });
    const parsed = toolDescriptor(tool).result.safeParse(result);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(result).toMatchObject({
      success: false,
      error: expect.stringMatching(/InvalidArgument|UnsupportedLanguage/),
    });
  });

  it('the worker dispatches no tool outside the catalogue', () => {
    expect(Object.keys(TOOL_EXECUTORS).sort()).toEqual([...TOOL_NAMES].sort());
  });

  it.each(TOOL_NAMES)('%s: its approval message in Slack says what the call would do', (tool) => {
    const params = exampleParams(tool);
    const { summary, code } = payloadOf({ tool, params });
    const descriptor = toolDescriptor(tool);
    expect(summary).toBe(descriptor.summary(params));
    expect(summary.trim()).not.toBe('');
    expect(code).toBe(descriptor.review ? descriptor.review(params) : null);
    const message = JSON.stringify(approvalRequest(jobRecord(tool, params), { previewLines: 10, previewChars: 500 }));
    expect(message).toContain(`\`${tool}\`: ${summary}`);
  });

  it.each(TOOL_NAMES)('%s: the default policy rates it, last with its default risk', (tool) => {
    const rules = DEFAULT_RULES.filter((rule) => rule.tools.includes(tool));
    const { risk, timeout, description } = toolDescriptor(tool).defaultRisk;
    expect(rules.at(-1)).toMatchObject({ risk, description, conditions: [] });
    expect(rules.at(-1)?.timeout).toBe(timeout);
    expect(rules.at(-1)?.tools).toEqual([tool]);
    const assessment = new RiskPolicy().classify(tool, exampleParams(tool));
    expect(assessment.reason).not.toMatch(/No rule matched/);
    expect(rules.map((rule) => rule.description)).toContain(assessment.reason);
  });

  it('the default policy names no tool outside the catalogue, in catalogue order', () => {
    const order = DEFAULT_RULES.flatMap((rule) => rule.tools).filter((tool, i, all) => all.indexOf(tool) === i);
    expect(order).toEqual(TOOL_NAMES);
  });

  it.each(TOOL_NAMES)('%s: MCP offers it, with its title, description, annotations and schemas', (tool) => {
    const definitions = toolDefinitions(DEFAULT_FACTS);
    expect(definitions.map((d) => d.name)).toEqual(TOOL_NAMES);
    const definition = definitions.find((d) => d.name === tool);
    const descriptor = toolDescriptor(tool);
    expect(definition).toMatchObject({
      title: descriptor.title,
      description: descriptor.describe(DEFAULT_FACTS),
      annotations: { title: descriptor.title, ...descriptor.hints },
    });
    expect(definition?.outputSchema?.properties).toHaveProperty('success');
    expect(definition?.outputSchema?.properties).toHaveProperty('error');
  });
});

describe('the client has a method per tool', () => {
  let server: Server;
  let baseUrl: string;
  const received: { method: string; url: string; body: { tool: string; params: unknown } }[] = [];

  beforeAll(async () => {
    // The API's answer to a submission: the job, ended, with the tool's result of a job that did not run.
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        const body = JSON.parse(text) as { tool: ToolName; params: Record<string, unknown> };
        received.push({ method: req.method ?? '', url: req.url ?? '', body });
        const view: JobView = {
          job_id: 'job-0123456789abcdef01234567',
          tool: body.tool,
          params: body.params,
          status: 'cancelled',
          risk: 'HIGH',
          risk_reason: 'a reason',
          risk_matched: null,
          created_at: '2023-11-14T22:13:20.000Z',
          started_at: null,
          finished_at: '2023-11-14T22:13:21.000Z',
          batch_id: null,
          attempts: 0,
          max_attempts: 1,
          worker_id: null,
          approval: null,
          result: failedToolResult(body.tool, body.params, 'Cancelled', 'cancelled'),
          error: { code: 'Cancelled', message: 'cancelled' },
        };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(view));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it.each(TOOL_NAMES)('%s: submits the tool and answers its result', async (tool) => {
    const client = new HarombeClient({ baseUrl, apiKey: 'key-test' });
    const method = (client as unknown as Record<string, unknown>)[toolMethodName(tool)];
    expect(method).toBeTypeOf('function');
    const example = toolDescriptor(tool).example;
    const result = await (method as (params: unknown) => Promise<Record<string, unknown>>).call(client, example);
    expect(received.at(-1)).toMatchObject({ method: 'POST', url: '/v1/jobs', body: { tool, params: example } });
    expect(result).toMatchObject({ success: false, error: 'Cancelled' });
  });
});

/** A launch protocol with values no launcher could have by chance. */
const PROTOCOL: LaunchProtocol = {
  tickFifo: '/tmp/.catalogue-tick',
  firstExecutionUid: 12_345,
  firstKeeperUid: 54_321,
  shellPrelude: 'printf x >>/tmp/.catalogue-tick; ',
};

/** Image recipes that name a language (LABEL org.harombe.language=…), by recipe directory. */
function languageRecipes(): Map<string, string> {
  const recipes = new Map<string, string>();
  const images = join(REPO, 'deploy/images');
  for (const name of readdirSync(images)) {
    const dockerfile = join(images, name, 'Dockerfile.registry');
    if (!existsSync(dockerfile)) continue;
    const label = /^LABEL org\.harombe\.language=(\S+)$/m.exec(readFileSync(dockerfile, 'utf8'));
    if (label?.[1]) recipes.set(name, label[1]);
  }
  return recipes;
}

describe('every language of the catalogue', () => {
  it('has an image recipe, and every recipe that names a language names one of them', () => {
    const recipes = languageRecipes();
    expect([...recipes.keys()].sort()).toEqual([...LANGUAGES].sort());
    for (const [directory, language] of recipes) expect(language).toBe(directory);
  });

  it.each(LANGUAGES)('%s: its recipe and image are named after it', (language) => {
    const recipe = join(REPO, 'deploy/images', language);
    expect(readFileSync(join(recipe, 'packages'), 'utf8').trim()).not.toBe('');
    expect(readFileSync(join(recipe, 'Dockerfile.registry'), 'utf8')).toMatch(/^FROM \S+/m);
    expect(languageDescriptor(language).image).toBe(`harombe/sandbox-${language}`);
  });

  it.each(LANGUAGES)('%s: the configuration has its image and its warm pool', (language) => {
    const { sandbox } = parseConfig({}).security;
    expect(sandbox.languages[language]).toEqual({ image: languageDescriptor(language).image });
    expect(sandbox.warm_pool[language]).toBe(0);
    const custom = parseConfig({ security: { sandbox: { warm_pool: { [language]: 3 } } } }).security.sandbox;
    expect(custom.warm_pool[language]).toBe(3);
  });

  it.each(LANGUAGES)(
    '%s: its launcher keeps the sandbox protocol, with the program as argument or on stdin',
    (language) => {
      const { command, prime } = languageDescriptor(language);
      const program = 'PROGRAM_TEXT_7d1e';
      const asArgument = command(program, PROTOCOL);
      const onStdin = command(null, PROTOCOL);
      expect(asArgument.some((arg) => arg.includes(program))).toBe(true);
      expect(onStdin.some((arg) => arg.includes(program))).toBe(false);
      for (const argv of [asArgument, onStdin]) {
        const text = argv.join('\n');
        // Either the launcher is the shell prelude itself, or it does what it does in its own language.
        const keepsProtocol =
          text.includes(PROTOCOL.shellPrelude) ||
          (text.includes(PROTOCOL.tickFifo) &&
            text.includes(String(PROTOCOL.firstExecutionUid)) &&
            text.includes(String(PROTOCOL.firstKeeperUid)));
        expect(keepsProtocol, argv.join(' ').slice(0, 200)).toBe(true);
      }
      expect(prime.trim()).not.toBe('');
    },
  );

  it.each(LANGUAGES)('%s: the sandbox runtime knows it, and names it when refusing another', async (language) => {
    const refusal = await new SandboxManager().create({ language: 'cobol', owner: 'acme' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isHarombeError(refusal) && refusal.code).toBe('UnsupportedLanguage');
    expect((refusal as Error).message).toMatch(new RegExp(`\\b${language}\\b`));
    expect(TOOLS.code_execute.parameters.language).toMatch(new RegExp(`\\b${language}\\b`));
    expect(serverInstructions(DEFAULT_FACTS)).toContain(languageDescriptor(language).title);
  });

  it.each(LANGUAGES)('%s: its installer, if any, is a registry of code_install_package', (language) => {
    const { installer } = languageDescriptor(language);
    if (!installer) {
      expect(Object.values(REGISTRY_LANGUAGES)).not.toContain(language);
      return;
    }
    expect(REGISTRY_LANGUAGES[installer.registry as Registry]).toBe(language);
    expect(
      CodeInstallPackageParams.safeParse({
        sandbox_id: 'sandbox-0123456789abcdef',
        package: 'example',
        registry: installer.registry,
      }).success,
    ).toBe(true);
    expect(installer.command('example==1.0')).toContain('example==1.0');
    expect(installer.environment('http://proxy:3128', 'http://index.example/').join('\n')).toContain(
      'http://index.example/',
    );
  });

  it('the registries are those of the installers, no more', () => {
    expect(Registry.options).toEqual(REGISTRIES);
    expect(Object.keys(REGISTRY_LANGUAGES)).toEqual(REGISTRIES);
    expect(Object.keys(TOOLS)).toEqual(TOOL_NAMES);
  });
});
