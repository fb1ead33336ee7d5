// The wire protocol between nono-shell (shim/nono_shell_client.c) and the supervisor, defined
// once here and documented in docs/protocol.md. Frames are a 4-byte little-endian length and a
// JSON payload of at most 1 MiB. Strings may carry bytes that are not UTF-8 as lone surrogates
// U+DC80..U+DCFF (one per byte); `wireToBytes` turns them back into the exact bytes.
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;
export const MAX_FRAME_BYTES = 1 << 20;

const wireString = z.string().refine((s) => !s.includes('\0'), 'must not contain NUL bytes');

/** nono-shell -> supervisor, first frame, with stdin/stdout/stderr attached (SCM_RIGHTS). */
export const runRequestSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('run'),
  secret: z.string().max(256),
  client_pid: z.number().int().positive(),
  cwd: wireString.min(1),
  shell_as: wireString.nullable(),
  argv: z.array(wireString).min(1).max(100_000),
  env: z.array(wireString.regex(/^[^=]+=/s, 'environment entries look like NAME=value')).max(100_000),
  ignored_signals: z.array(z.number().int().min(1).max(64)).max(64),
  /** Which of stdin, stdout, stderr the caller had closed: the command gets them closed too (their
   * descriptor slots carry /dev/null, so a run always has three). Absent = none. */
  closed_fds: z.array(z.number().int().min(0).max(2)).max(3).optional(),
});
export type RunRequest = z.infer<typeof runRequestSchema>;

/** nono-shell -> supervisor, any time after `run`: a signal nono-shell received. */
export const signalRequestSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('signal'),
  signal: z.number().int().min(1).max(64),
});
export type SignalRequest = z.infer<typeof signalRequestSchema>;

export const requestSchema = z.discriminatedUnion('type', [runRequestSchema, signalRequestSchema]);
export type Request = z.infer<typeof requestSchema>;

/** supervisor -> nono-shell. */
export type Reply =
  | { v: 1; type: 'exit'; code: number }
  | { v: 1; type: 'exit'; signal: number }
  | { v: 1; type: 'direct'; shell: string }
  /** A forwarded signal was handled: nono-shell counts a supervisor that never says so as stalled. */
  | { v: 1; type: 'signal_ack'; signal: number }
  | { v: 1; type: 'error'; message: string };

export class ProtocolError extends Error {}

/** Parses and validates one frame's payload; throws ProtocolError with a readable reason. */
export function decodeRequest(payload: Buffer): Request {
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let json: unknown;
  try {
    json = JSON.parse(text.decode(payload));
  } catch (e) {
    throw new ProtocolError(`frame is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof json === 'object' && json !== null && 'v' in json && typeof json.v === 'number' && json.v !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      `protocol version ${String(json.v)} is not supported (this supervisor speaks ${PROTOCOL_VERSION}); ` +
        'nono-shell and nono come from different installs',
    );
  }
  const parsed = requestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ProtocolError(`invalid request: ${issue.path.join('.') || '(frame)'}: ${issue.message}`);
  }
  return parsed.data;
}

export function encodeReply(reply: Reply): Buffer {
  return Buffer.from(JSON.stringify(reply), 'utf8');
}

/** For the spawn addon: a string without raw-byte surrogates is passed as it is (the addon
 * encodes it as UTF-8 itself, saving a copy per argument on the per-command path). */
export function wireForSpawn(s: string): Buffer | string {
  return /[\udc80-\udcff]/.test(s) ? wireToBytes(s) : s;
}

/** Converts a wire string to its exact bytes (lone surrogates DC80..DCFF are raw bytes). */
export function wireToBytes(s: string): Buffer {
  if (!/[\udc80-\udcff]/.test(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && c >= 0xdc80 && c <= 0xdcff) {
      if (run) parts.push(Buffer.from(run, 'utf8'));
      run = '';
      parts.push(Buffer.from([c - 0xdc00]));
    } else {
      run += ch;
    }
  }
  if (run) parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}
