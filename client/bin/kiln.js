#!/usr/bin/env node
// The kiln CLI entry point: runs the TypeScript sources unbuilt through tsx.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../cli.ts');
await runCli();
