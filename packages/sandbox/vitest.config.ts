import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Sandboxes are real runsc containers on a 2-core machine: one file at a time keeps the
    // timing-sensitive cases (timeouts, grace periods) honest.
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 120_000,
    // expect.poll waits up to 15 s: vitest's 1 s default is less than a few Docker or Redis round
    // trips take on a loaded two-core host.
    expect: { poll: { timeout: 15_000 } },
  },
});
