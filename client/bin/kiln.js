#!/usr/bin/env node
// The repository's kiln: runs the TypeScript sources unbuilt through tsx, with the client and
// the server commands. The installed client is built from client/bin/installed.ts instead
// (scripts/build-client.mjs).
import { register } from 'tsx/esm/api';

register();
const { start } = await import('../start.ts');
await start(async () => {
  const [{ COMMANDS }, { SERVER_COMMANDS }] = await Promise.all([
    import('../commands/index.ts'),
    import('../commands/servers.ts'),
  ]);
  return [...COMMANDS, ...SERVER_COMMANDS];
});
