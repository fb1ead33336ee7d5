import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Real processes and real sandboxes: give slow CI machines room, and keep files in separate
    // processes (the supervisor addon holds one socket per process).
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
