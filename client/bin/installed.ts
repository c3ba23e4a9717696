#!/usr/bin/env node
/**
 * The installed client's entry (`npm install -g` of the package scripts/build-client.mjs makes):
 * built JavaScript, the client commands only (no gateway, builder or dev farm).
 */
import { start } from '../start.ts';

await start(async () => (await import('../commands/index.ts')).COMMANDS);
