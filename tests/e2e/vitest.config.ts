import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each file starts a whole fleet with real runsc sandboxes on a small machine: one at a time.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // expect.poll waits up to 15 s: vitest's 1 s default is less than a few Docker or Redis round
    // trips take on a loaded two-core host.
    expect: { poll: { timeout: 15_000 } },
  },
});
