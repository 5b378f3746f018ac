import { nodeLauncher, pythonLauncher, shellStdinLauncher, type LaunchProtocol } from './launchers.js';

export type { LaunchProtocol } from './launchers.js';

/** How code_install_package installs into a language's sandboxes. */
export interface PackageInstaller {
  /** The `registry` of code_install_package that installs into this language's sandboxes. */
  registry: string;
  /** The package manager, for people. */
  manager: string;
  /** Where the packages go, inside the sandbox. */
  directory: string;
  /** argv of one install of `pkg` (checked by CodeInstallPackageParams: never an option), run in /workspace. */
  command: (pkg: string) => string[];
  /**
   * Environment of every network-enabled sandbox (the only ones that install) for the package
   * manager to go through the egress proxy to `indexUrl` (the registry's index, when known), and
   * for programs to find what it installed.
   */
  environment: (proxyUrl: string, indexUrl: string | undefined) => string[];
}

/** One language a sandbox can run. Adding one: a descriptor here and an image recipe (docs/sandboxes.md). */
export interface LanguageDescriptor {
  /** Its name in prose: "Run a Python, JavaScript or shell program". */
  title: string;
  /** What runs its programs, where its name does not say: `javascript (Node.js)`. Default: nothing said. */
  runtime?: string;
  /**
   * The default image of its sandboxes (`security.sandbox.languages.<language>.image`):
   * `harombe/sandbox-<language>`, built from the recipe in `deploy/images/<language>/`.
   */
  image: string;
  /**
   * argv that runs a program inside the sandbox, as the exec's own process: `program` is the
   * program's text, or null when the launcher reads it from stdin, framed (its size in bytes on a
   * line, then the program, then the program's own stdin).
   */
  command: (program: string | null, protocol: LaunchProtocol) => string[];
  /** Run in warm-pool sandboxes before they are handed out, so the interpreter is read in ahead of time. */
  prime: string;
  /** How packages install into its sandboxes; null: code_install_package has no registry for it. */
  installer: PackageInstaller | null;
}

/** Where pip installs go: on PYTHONPATH of network-enabled sandboxes, so later programs import them. */
const PYTHON_PACKAGES_DIR = '/workspace/.python-packages';
/** npm installs go to /workspace/node_modules, where `node -` run in /workspace looks first. */
const NODE_PACKAGES_DIR = '/workspace/node_modules';

/**
 * The languages, in the order they are listed everywhere. Programs too large for an argument, or
 * that must stay out of the command line, come over stdin (see `command`).
 */
export const LANGUAGE_CATALOGUE = {
  python: {
    title: 'Python',
    image: 'harombe/sandbox-python',
    command: (program, protocol) => ['python3', '-c', pythonLauncher(protocol), ...(program === null ? [] : [program])],
    prime: 'pass',
    installer: {
      registry: 'pypi',
      manager: 'pip',
      directory: PYTHON_PACKAGES_DIR,
      command: (pkg) => [
        'python3',
        '-m',
        'pip',
        'install',
        '--no-input',
        '--upgrade',
        '--target',
        PYTHON_PACKAGES_DIR,
        pkg,
      ],
      environment: (proxyUrl, indexUrl) => {
        const env = [
          `PYTHONPATH=${PYTHON_PACKAGES_DIR}`,
          `PIP_PROXY=${proxyUrl}`,
          'PIP_DISABLE_PIP_VERSION_CHECK=1',
          'PIP_CACHE_DIR=/tmp/.pip-cache',
        ];
        if (indexUrl) {
          env.push(`PIP_INDEX_URL=${indexUrl}`);
          // pip ignores a plain-http index unless its host is trusted; the operator chose it.
          const url = new URL(indexUrl);
          if (url.protocol === 'http:') env.push(`PIP_TRUSTED_HOST=${url.host}`);
        }
        return env;
      },
    },
  },
  javascript: {
    title: 'JavaScript',
    runtime: 'Node.js',
    image: 'harombe/sandbox-javascript',
    command: (program, protocol) => ['node', '-e', nodeLauncher(protocol), ...(program === null ? [] : [program])],
    prime: '0',
    installer: {
      registry: 'npm',
      manager: 'npm',
      directory: NODE_PACKAGES_DIR,
      command: (pkg) => ['npm', 'install', '--prefix', '/workspace', pkg],
      environment: (proxyUrl, indexUrl) => [
        `NODE_PATH=${NODE_PACKAGES_DIR}`,
        `npm_config_proxy=${proxyUrl}`,
        `npm_config_https_proxy=${proxyUrl}`,
        'npm_config_cache=/tmp/.npm-cache',
        'npm_config_audit=false',
        'npm_config_fund=false',
        'npm_config_update_notifier=false',
        ...(indexUrl ? [`npm_config_registry=${indexUrl}`] : []),
      ],
    },
  },
  shell: {
    title: 'shell',
    runtime: 'bash',
    image: 'harombe/sandbox-shell',
    // The prelude goes in front of the program on its first line: its line numbers stay as written.
    command: (program, protocol) => [
      'bash',
      '-c',
      program === null ? shellStdinLauncher(protocol) : protocol.shellPrelude + program,
      'bash',
    ],
    prime: ':',
    installer: null,
  },
} as const satisfies Record<string, LanguageDescriptor>;

/** The languages a sandbox can run. Each maps to one sandbox image. */
export type Language = keyof typeof LANGUAGE_CATALOGUE;
export const LANGUAGES = Object.keys(LANGUAGE_CATALOGUE) as [Language, ...Language[]];

/** The language's descriptor, typed as the contract (the catalogue's own type keeps each entry's literals). */
export function languageDescriptor(language: Language): LanguageDescriptor {
  return LANGUAGE_CATALOGUE[language];
}

/** A record with one entry per language, in catalogue order. */
export function perLanguage<T>(value: (language: Language, descriptor: LanguageDescriptor) => T): Record<Language, T> {
  return Object.fromEntries(
    LANGUAGES.map((language) => [language, value(language, languageDescriptor(language))]),
  ) as Record<Language, T>;
}

/** `a, b or c`, for listing languages (or anything) in prose. */
export function listInProse(items: readonly string[], conjunction: 'or' | 'and'): string {
  if (items.length < 2) return items.join('');
  return `${items.slice(0, -1).join(', ')} ${conjunction} ${items.at(-1)}`;
}

type Installer = NonNullable<(typeof LANGUAGE_CATALOGUE)[Language]['installer']>;
/** The registries code_install_package knows: one per language with an installer. */
export type RegistryName = Installer['registry'];
export const REGISTRIES = LANGUAGES.flatMap((language) => {
  const installer = languageDescriptor(language).installer;
  return installer ? [installer.registry] : [];
}) as [RegistryName, ...RegistryName[]];

/** The language whose sandboxes a registry's packages install into. */
export const REGISTRY_LANGUAGES = Object.fromEntries(
  LANGUAGES.flatMap((language) => {
    const installer = languageDescriptor(language).installer;
    return installer ? [[installer.registry, language]] : [];
  }),
) as Record<RegistryName, Language>;
