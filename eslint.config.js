import tseslint from 'typescript-eslint';

/**
 * Type-checked rules (recommendedTypeChecked: floating and misused promises among them) for
 * every TypeScript file, through the tsconfig that includes its tests; plain rules for
 * JavaScript and the tool configurations no tsconfig includes.
 */
export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.turbo/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ['packages/*/tsconfig.test.json', 'services/*/tsconfig.test.json', 'tests/*/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // `void promise` is no handling: a discarded promise must say what happens when it fails.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
      // Rejecting with an AbortSignal's reason (of type any) is the platform's way, as throwing it is.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
      // `async` without `await` is deliberate here: implementations of async interfaces (registries,
      // handlers, stand-ins) whose throws must reach the caller as rejections.
      '@typescript-eslint/require-await': 'off',
      'no-console': 'off',
    },
  },
  {
    // Asymmetric matchers (expect.any, expect.stringMatching) and parsed JSON bodies are `any` by design.
    files: ['**/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs', '**/vitest.config.ts', 'vitest.*.ts'],
    ...tseslint.configs.disableTypeChecked,
  },
);
