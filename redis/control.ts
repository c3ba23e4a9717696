/** The wire form of control messages on a builder's channel (`{"cancel": jobId}`), both ways. */
import type { ControlMessage } from '../protocol/builder-port.ts';

/** Encodes a control message for PUBLISH. */
export function encodeControl(msg: ControlMessage): string {
  return JSON.stringify({ cancel: msg.jobId });
}

/** Decodes a control message; null when it is malformed or of an unknown kind. */
export function decodeControl(raw: string): ControlMessage | null {
  try {
    const { cancel } = JSON.parse(raw) as { cancel?: unknown };
    return typeof cancel === 'string' && cancel !== '' ? { type: 'stop', jobId: cancel } : null;
  } catch {
    return null;
  }
}
