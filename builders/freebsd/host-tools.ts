/**
 * Runs pot and the FreeBSD base tools (jail, rctl, pkill, dmesg, zfs) by the paths the builder was
 * configured with. A failed call becomes a KilnError carrying the command and the tool's own
 * message, so an operator sees what pot said.
 */
import { execFile } from 'node:child_process';
import { KilnError } from '../../protocol/errors.ts';
import type { ToolCall } from './pot-commands.ts';

/** Absolute paths of the host tools. */
export type ToolPaths = Record<ToolCall['tool'], string>;

/** FreeBSD's own locations (pot from the sysutils/pot package). */
export const DEFAULT_TOOL_PATHS: ToolPaths = {
  pot: '/usr/local/bin/pot',
  jail: '/usr/sbin/jail',
  rctl: '/usr/bin/rctl',
  pkill: '/bin/pkill',
  dmesg: '/sbin/dmesg',
  zfs: '/sbin/zfs',
};

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface HostTools {
  readonly paths: ToolPaths;
  /** Runs the call; resolves with its exit status, whatever it is. */
  run(call: ToolCall): Promise<ToolResult>;
  /** Runs the call; throws ERR_INTERNAL unless it exits 0 (or with one of `ok`). */
  must(call: ToolCall, ok?: number[]): Promise<ToolResult>;
}

export function createHostTools(paths: ToolPaths, timeoutMs = 120_000): HostTools {
  const run = (call: ToolCall): Promise<ToolResult> =>
    new Promise((resolve, reject) => {
      execFile(
        paths[call.tool],
        call.args,
        { timeout: timeoutMs, maxBuffer: 16 << 20, encoding: 'utf8' },
        (err, stdout, stderr) => {
          if (err && typeof err.code !== 'number') {
            reject(
              new KilnError('ERR_CONFIG', `cannot run ${paths[call.tool]}: ${err.message}`, { cause: err }),
            );
            return;
          }
          resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
        },
      );
    });
  return {
    paths,
    run,
    async must(call, ok = [0]) {
      const r = await run(call);
      if (!ok.includes(r.code)) {
        const said = r.stderr.trim().split('\n').slice(-3).join(' / ') || `exit status ${r.code}`;
        throw new KilnError('ERR_INTERNAL', `${call.tool} ${call.args.join(' ')} failed: ${said}`, {
          detail: { tool: call.tool, args: call.args, code: r.code },
        });
      }
      return r;
    },
  };
}
