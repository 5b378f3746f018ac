import { TOOL_NAMES, toolDescriptor, type ToolName } from '@harombe/core';
import { deepFreeze, type BuiltinPredicate, type PolicyRule } from './policy-rule.js';

/**
 * Workspace files (normalized paths, relative to /workspace, which is also HOME) that an
 * interpreter or package manager loads without a program naming them, so writing one is as good
 * as running code in every later program of the sandbox:
 * - Python: `.pth` files and anything in a site-packages or dist-packages directory (the user
 *   site is ~/.local/lib/pythonX.Y/site-packages), the PYTHONPATH of pip installs
 *   (.python-packages/), sitecustomize and usercustomize, the PYTHONSTARTUP habit `.pythonrc*`,
 *   and compiled modules (`.pyc`, `.so`) that an import picks up in place of a source;
 * - Node: node_modules/ anywhere (require walks up to it), ~/.node_modules and ~/.node_libraries,
 *   native addons (`.node`, which require resolves on its own), `.cjs`/`.mjs` modules that
 *   NODE_OPTIONS' --require or --import may name, and `.npmrc` (node-options, script-shell);
 * - shells: ~/.bashrc, ~/.bash_profile, ~/.bash_login, ~/.bash_logout, ~/.profile.
 */
const AUTOLOADED_FILES = [
  String.raw`\.pth$`,
  String.raw`(?:^|/)(?:site|dist)-packages/`,
  String.raw`(?:^|/)\.python-packages/`,
  String.raw`(?:^|/)(?:sitecustomize|usercustomize)(?:\.[^/]*)?$`,
  String.raw`(?:^|/)\.pythonrc[^/]*$`,
  String.raw`\.(?:pyc|so|node|cjs|mjs)$`,
  String.raw`(?:^|/)node_modules/`,
  String.raw`^\.node_(?:modules|libraries)/`,
  String.raw`(?:^|/)\.(?:bashrc|bash_profile|bash_login|bash_logout|profile|npmrc)$`,
].join('|');

/**
 * The rules that refine a tool's default risk (the catalogue's `defaultRisk`), checked before it,
 * in order. Plain data where core's condition language suffices; a built-in predicate where it
 * does not (the dangerous-pattern list, the configured registries).
 */
const REFINEMENTS: { readonly [T in ToolName]?: readonly PolicyRule[] } = {
  code_execute: [
    {
      tools: ['code_execute'],
      risk: 'CRITICAL',
      timeout: 30,
      conditions: [{ param: 'network_enabled', equals: true, negate: false }],
      description: 'Code execution with network access',
    },
    {
      tools: ['code_execute'],
      risk: 'CRITICAL',
      timeout: 30,
      conditions: [],
      predicate: 'dangerous_code',
      description: 'Code contains a dangerous pattern',
    },
    {
      // Its background processes run on beside every later job of the sandbox, unapproved.
      tools: ['code_execute'],
      risk: 'HIGH',
      timeout: 60,
      conditions: [{ param: 'keep_background', equals: true, negate: false }],
      description: 'Code execution that leaves background processes running',
    },
  ],
  code_install_package: [
    {
      // The installer runs the package's own code (setup.py, npm scripts) with the sandbox's network,
      // which reaches the domains the sandbox allows besides the registries (see ClassificationContext).
      tools: ['code_install_package'],
      risk: 'CRITICAL',
      timeout: 30,
      conditions: [{ param: 'allowed_domains', matches: '[a-z0-9]', negate: false }],
      description: 'Package installation in a sandbox that reaches other domains',
    },
    {
      tools: ['code_install_package'],
      risk: 'HIGH',
      timeout: 60,
      conditions: [],
      predicate: 'allowed_registry',
      description: 'Package installation from an allowed registry',
    },
  ],
  code_write_file: [
    {
      // Whatever the file: a later program (or the interpreter itself) may run what it holds.
      tools: ['code_write_file'],
      risk: 'CRITICAL',
      timeout: 30,
      conditions: [],
      predicate: 'dangerous_content',
      description: 'Written content contains a dangerous pattern',
    },
    {
      // Runs in every later program of the sandbox without being named: as good as code execution.
      tools: ['code_write_file'],
      risk: 'HIGH',
      timeout: 60,
      conditions: [{ param: 'file_path', matches: AUTOLOADED_FILES, negate: false }],
      description: 'Writing a file an interpreter loads on its own',
    },
    {
      tools: ['code_write_file'],
      risk: 'HIGH',
      timeout: 60,
      // Searched case-insensitively: script.py, dir/run.SH.
      conditions: [{ param: 'file_path', matches: String.raw`\.(?:sh|py|js|exe|bin)$`, negate: false }],
      description: 'Writing an executable file',
    },
  ],
  code_create_sandbox: [
    {
      tools: ['code_create_sandbox'],
      risk: 'CRITICAL',
      timeout: 30,
      conditions: [{ param: 'network_enabled', equals: true, negate: false }],
      description: 'Creating a sandbox with network access',
    },
  ],
};

/**
 * What a tool's default rule checks besides: only the text it shows the approver. An install no
 * refinement matched is from a registry that is not allowed, which other_registry then names.
 */
const DEFAULT_RULE_PREDICATES: { readonly [T in ToolName]?: BuiltinPredicate } = {
  code_install_package: 'other_registry',
};

/** The rule of a tool's default risk: its last, matching every call the refinements left. */
function defaultRule(tool: ToolName): PolicyRule {
  const { risk, timeout, description } = toolDescriptor(tool).defaultRisk;
  const predicate = DEFAULT_RULE_PREDICATES[tool];
  return {
    tools: [tool],
    risk,
    ...(timeout !== undefined ? { timeout } : {}),
    conditions: [],
    ...(predicate ? { predicate } : {}),
    description,
  };
}

/**
 * The reference design's rules ("HITL Integration"), in evaluation order: per tool of the
 * catalogue, its refinements, then its default risk. The first rule whose tools, conditions and
 * predicate match wins.
 */
export const DEFAULT_RULES: readonly PolicyRule[] = deepFreeze(
  TOOL_NAMES.flatMap((tool) => [...(REFINEMENTS[tool] ?? []), defaultRule(tool)]),
);
