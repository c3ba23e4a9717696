// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The arrows between folders (STYLE.md), checked on every import and re-export, types included.
 * Each entry: a regex on the import specifier (relative, as written) and why it is refused.
 * Flat config does not merge a rule's options across blocks, so each folder's block lists all of
 * its arrows. test/arch/dependency-direction.test.ts proves every arrow refuses a violating import.
 */
const arrow = (regex, message) => ({ regex, message });
const NO_GATEWAY = arrow(
  '(^|/)gateway/',
  'gateway/ is a core that depends on this folder, not the other way round: move the shared shape to protocol/',
);
const NO_WIRING = arrow(
  '^(\\.\\./)+wiring/',
  'only wiring/ puts the parts together; a part never imports it',
);
const NO_CLIENT = arrow('^(\\.\\./)+client/', 'the client is a separate program: share through protocol/');
const NO_REDIS = arrow(
  '^(\\.\\./)+redis/',
  'a core uses its port (protocol/*-port.ts), never the Redis implementation',
);
const NO_STORE_IMPL = arrow(
  '(^|/)storage/(?!port\\.ts$)',
  'a core uses storage/port.ts, never a store implementation',
);

/** @param {ReturnType<typeof arrow>[]} patterns */
const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  { ignores: ['node_modules/**', '.tmp/**', 'bench/.work/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  // Implementations and shared layers never reach into the gateway (or the wiring, or the client).
  {
    files: ['redis/**/*.ts', 'builders/**/*.ts', 'storage/**/*.ts', 'archive/**/*.ts'],
    rules: restrict([NO_GATEWAY, NO_WIRING, NO_CLIENT]),
  },
  // The builder core uses ports only: no Redis, no store implementation, no platform folder.
  {
    files: ['builders/core/**/*.ts'],
    rules: restrict([
      NO_GATEWAY,
      NO_WIRING,
      NO_CLIENT,
      NO_REDIS,
      NO_STORE_IMPL,
      arrow(
        '^\\.\\./(?!core/)[^./][^/]*/|(^|/)builders/(?!core/)',
        'the builder core knows no platform: a platform folder plugs into its SandboxRunner port',
      ),
    ]),
  },
  // The gateway core uses ports only; its adapters (gateway/adapters/) are entry points and wire.
  {
    files: ['gateway/**/*.ts'],
    ignores: ['gateway/adapters/**'],
    rules: restrict([
      NO_WIRING,
      NO_CLIENT,
      NO_REDIS,
      NO_STORE_IMPL,
      arrow('^(\\.\\./)+(builders|archive)/', 'the gateway never runs jobs or unpacks archives itself'),
    ]),
  },
  // The runtime-neutral protocol imports nothing of kiln.
  {
    files: ['protocol/**/*.ts'],
    rules: restrict([arrow('^\\.\\./', 'protocol/ is the bottom layer: it imports nothing of kiln')]),
  },
);
