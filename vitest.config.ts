import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The real agents (npm run test:agents) are installed and run by their own config.
    exclude: [...configDefaults.exclude, 'test/agents/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Real processes and real sandboxes: give slow CI machines room, and keep files in separate
    // processes (the supervisor addon holds one socket per process).
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One test switches kernel audit on for a moment (denial-audit.test.ts); every other session
    // keeps reading denials from stderr, so what they assert does not depend on that moment.
    env: { NONO_DENIAL_SOURCE: 'stderr' },
  },
});
