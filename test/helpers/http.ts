/** Small fetch helpers for HTTP-level tests. */
export interface Client {
  url: string;
  token: string;
}

export async function api(
  c: Client,
  path: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers: Record<string, string> = {
    Authorization: `Bearer ${c.token}`,
    ...(init.headers as Record<string, string>),
  };
  let body = init.body;
  if (init.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(init.json);
  }
  const res = await fetch(c.url + path, { ...init, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** The error code of an error body. */
export function codeOf(body: unknown): string | undefined {
  return (body as { error?: { code?: string } } | null)?.error?.code;
}

/** Polls nothing: long-polls the job until it has finished. */
export async function waitJob(c: Client, id: string): Promise<Record<string, unknown>> {
  for (;;) {
    const r = await api(c, `/api/v1/jobs/${id}?wait=30`);
    const job = r.body as Record<string, unknown>;
    if (r.status !== 200) throw new Error(`GET job ${id}: ${r.status} ${JSON.stringify(r.body)}`);
    if (job.state !== 'queued' && job.state !== 'running') return job;
  }
}

/** Reads a job's whole NDJSON log (following it to the end) and returns stdout and stderr text. */
export async function readLog(
  c: Client,
  id: string,
  follow = true,
): Promise<{ stdout: string; stderr: string; lines: unknown[] }> {
  const res = await fetch(`${c.url}/api/v1/jobs/${id}/logs${follow ? '?follow=1' : ''}`, {
    headers: { Authorization: `Bearer ${c.token}` },
  });
  const text = await res.text();
  const lines = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>);
  let stdout = '';
  let stderr = '';
  for (const l of lines) {
    if (l.stream === 'stdout') stdout += Buffer.from(l.data!, 'base64').toString();
    if (l.stream === 'stderr') stderr += Buffer.from(l.data!, 'base64').toString();
  }
  return { stdout, stderr, lines };
}

/**
 * Waits (bounded) until the named builders (by id; every builder when none is named) hold no job.
 * A job's state says it finished a moment before its builder gives the slot back, so a test that
 * needs a free slot, or needs to know which builder takes the next job, waits for this first.
 */
export async function waitIdle(c: Client, ids?: string[], ms = 20_000): Promise<void> {
  const busy = async (): Promise<{ id: string; load: number }[]> => {
    const s = (await api(c, '/api/v1/status')).body as { builders: { id: string; load: number }[] };
    return s.builders.filter((b) => b.load > 0 && (!ids || ids.includes(b.id)));
  };
  const end = Date.now() + ms;
  for (let b = await busy(); b.length > 0; b = await busy()) {
    if (Date.now() > end)
      throw new Error(
        `builders still hold jobs after ${ms} ms: ${b.map((x) => `${x.id} (${x.load})`).join(', ')}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}
