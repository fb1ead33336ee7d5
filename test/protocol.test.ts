/**
 * The supervisor's side of the nono-shell wire protocol (src/nono-shell/protocol.ts): what a frame
 * payload must look like to be accepted, and what the supervisor says when it is not. The error
 * text ends up in front of a user (nono-shell prints it), so each rejection is checked for naming
 * the actual problem, not just for throwing. The C encoder's side is covered by the end-to-end
 * tests that run nono-shell itself.
 */
import { describe, expect, it } from 'vitest';
import {
  PROTOCOL_VERSION,
  ProtocolError,
  decodeRequest,
  wireToBytes,
} from '../src/nono-shell/protocol.js';

/** A run request as nono-shell sends it; each rejection test breaks exactly one thing in it. */
function runRequest(): Record<string, unknown> {
  return {
    v: PROTOCOL_VERSION,
    type: 'run',
    secret: 'f'.repeat(64),
    client_pid: 4242,
    cwd: '/home/user/project',
    shell_as: '/usr/bin/bash',
    argv: ['bash', '-c', 'echo hi'],
    env: ['PATH=/usr/bin:/bin', 'EMPTY=', 'WITH_EQUALS=a=b'],
    ignored_signals: [13],
  };
}

const frame = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

/** Decodes and returns the ProtocolError, failing the test if it did not throw one. */
function rejectionOf(payload: Buffer): ProtocolError {
  let caught: unknown;
  try {
    decodeRequest(payload);
  } catch (e) {
    caught = e;
  }
  expect(caught, 'decodeRequest should have rejected this frame').toBeInstanceOf(ProtocolError);
  return caught as ProtocolError;
}

describe('decodeRequest accepts what nono-shell sends', () => {
  it('a run request, with every field intact', () => {
    const sent = runRequest();
    const got = decodeRequest(frame(sent));
    expect(got).toEqual(sent);
  });

  it('a run request for a shell that is not routed (shell_as null) and an empty environment', () => {
    const sent = { ...runRequest(), shell_as: null, env: [], ignored_signals: [] };
    expect(decodeRequest(frame(sent))).toEqual(sent);
  });

  it('a signal request', () => {
    const sent = { v: PROTOCOL_VERSION, type: 'signal', signal: 2 };
    expect(decodeRequest(frame(sent))).toEqual(sent);
  });

  it('strings carrying non-UTF-8 bytes as lone surrogates, which then become the exact bytes', () => {
    // nono-shell encodes byte 0xff in an argument as \udcff; the JSON text itself stays ASCII.
    const payload = Buffer.from(
      `{"v":1,"type":"run","secret":"s","client_pid":7,"cwd":"/tmp/caf\\udce9","shell_as":null,` +
        `"argv":["bash","-c","printf '\\udcff'"],"env":["LANG=C"],"ignored_signals":[]}`,
      'utf8',
    );
    const got = decodeRequest(payload);
    expect(got.type).toBe('run');
    if (got.type !== 'run') return;
    expect([...wireToBytes(got.cwd)]).toEqual([...Buffer.from('/tmp/caf'), 0xe9]);
    expect([...wireToBytes(got.argv[2]!)]).toEqual([...Buffer.from("printf '"), 0xff, 0x27]);
  });
});

describe('decodeRequest rejects malformed frames with a reason', () => {
  it('a payload that is not JSON', () => {
    const err = rejectionOf(Buffer.from('run bash -c ls', 'utf8'));
    expect(err.message).toMatch(/not UTF-8 JSON/);
  });

  it('a payload that is not UTF-8 (raw 0xff inside a JSON string)', () => {
    // Valid JSON shape, invalid UTF-8: a decoder that replaced the byte with U+FFFD would accept it.
    const payload = Buffer.concat([Buffer.from('{"v":1,"type":"signal","x":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    const err = rejectionOf(payload);
    // Not "invalid request: (frame): Unrecognized key" - the bytes are refused before the schema.
    expect(err.message).toMatch(/^frame is not UTF-8 JSON/);
  });

  it('another protocol version, saying which one was sent and which one is spoken', () => {
    const err = rejectionOf(frame({ ...runRequest(), v: PROTOCOL_VERSION + 1 }));
    expect(err.message).toContain(`protocol version ${PROTOCOL_VERSION + 1} is not supported`);
    expect(err.message).toContain(`speaks ${PROTOCOL_VERSION}`);
    // The likely cause, so the user knows what to fix.
    expect(err.message).toMatch(/different installs/);
  });

  it('a field the schema does not know (the schema is strict)', () => {
    const err = rejectionOf(frame({ ...runRequest(), timeout_ms: 5000 }));
    expect(err.message).toMatch(/invalid request/);
    expect(err.message).toContain('timeout_ms');
  });

  it('an unknown field in a signal request too', () => {
    const err = rejectionOf(frame({ v: PROTOCOL_VERSION, type: 'signal', signal: 15, pid: 1 }));
    expect(err.message).toContain('"pid"');
  });

  it('argv that is a string instead of an array', () => {
    const err = rejectionOf(frame({ ...runRequest(), argv: 'bash -c ls' }));
    expect(err.message).toMatch(/^invalid request: argv: /);
    expect(err.message).toMatch(/expected array/);
  });

  it('client_pid that is a string instead of a number', () => {
    const err = rejectionOf(frame({ ...runRequest(), client_pid: '4242' }));
    expect(err.message).toMatch(/^invalid request: client_pid: /);
    expect(err.message).toMatch(/expected number/);
  });

  it('an environment entry without "=", naming which entry', () => {
    const req = runRequest();
    req.env = ['PATH=/usr/bin', 'JUSTANAME'];
    const err = rejectionOf(frame(req));
    expect(err.message).toContain('env.1');
    expect(err.message).toMatch(/NAME=value/);
  });

  it('an environment entry with an empty name ("=value")', () => {
    const err = rejectionOf(frame({ ...runRequest(), env: ['=value'] }));
    expect(err.message).toContain('env.0');
  });

  it('a NUL byte inside a string (argv, cwd, env), naming the field', () => {
    const inArgv = rejectionOf(frame({ ...runRequest(), argv: ['bash', '-c', 'ls\0-la'] }));
    expect(inArgv.message).toContain('argv.2');
    expect(inArgv.message).toMatch(/NUL/);

    const inCwd = rejectionOf(frame({ ...runRequest(), cwd: '/tmp\0/x' }));
    expect(inCwd.message).toContain('cwd');
    expect(inCwd.message).toMatch(/NUL/);

    const inEnv = rejectionOf(frame({ ...runRequest(), env: ['A=b\0c'] }));
    expect(inEnv.message).toContain('env.0');
    expect(inEnv.message).toMatch(/NUL/);
  });

  it('each missing field of a run request, naming it', () => {
    for (const field of ['secret', 'client_pid', 'cwd', 'shell_as', 'argv', 'env', 'ignored_signals']) {
      const req = runRequest();
      delete req[field];
      const err = rejectionOf(frame(req));
      expect(err.message, `missing ${field}`).toMatch(new RegExp(`^invalid request: ${field}: `));
    }
  });

  it('a signal request without its signal', () => {
    const err = rejectionOf(frame({ v: PROTOCOL_VERSION, type: 'signal' }));
    expect(err.message).toMatch(/^invalid request: signal: /);
  });

  it('a request without a type, or with an unknown type', () => {
    const { type: _drop, ...untyped } = runRequest();
    expect(rejectionOf(frame(untyped)).message).toMatch(/^invalid request: type: /);
    expect(rejectionOf(frame({ ...runRequest(), type: 'exec' })).message).toMatch(/^invalid request: type: /);
  });

  it('a frame that is JSON but not an object', () => {
    expect(rejectionOf(frame([1, 2])).message).toMatch(/invalid request: \(frame\)/);
    expect(rejectionOf(frame(null)).message).toMatch(/invalid request: \(frame\)/);
  });

  it('an empty argv (there must be at least argv[0])', () => {
    const err = rejectionOf(frame({ ...runRequest(), argv: [] }));
    expect(err.message).toMatch(/^invalid request: argv: /);
  });
});

describe('wireToBytes', () => {
  it('turns a lone surrogate U+DCxx back into the raw byte xx', () => {
    expect([...wireToBytes('a\udcffb')]).toEqual([0x61, 0xff, 0x62]);
  });

  it('covers the whole range U+DC80..U+DCFF, one byte per surrogate', () => {
    let s = '';
    const expected: number[] = [];
    for (let b = 0x80; b <= 0xff; b++) {
      s += String.fromCharCode(0xdc00 + b);
      expected.push(b);
    }
    expect([...wireToBytes(s)]).toEqual(expected);
  });

  it('keeps text around the raw bytes as UTF-8', () => {
    expect([...wireToBytes('é\udc80ü')]).toEqual([0xc3, 0xa9, 0x80, 0xc3, 0xbc]);
  });

  it('leaves ordinary UTF-8 alone', () => {
    for (const s of ['', 'plain ascii', 'héllo wörld', '日本語', 'tab\tnewline\n']) {
      expect(wireToBytes(s).equals(Buffer.from(s, 'utf8')), JSON.stringify(s)).toBe(true);
    }
  });

  it('does not mistake the low half of a surrogate pair for a raw byte', () => {
    // U+1F480 and U+1F4FF are written D83D DC80 and D83D DCFF in UTF-16: their low halves fall
    // inside the raw-byte range, but they are halves of an emoji, not lone surrogates.
    expect([...wireToBytes('\u{1F480}')]).toEqual([0xf0, 0x9f, 0x92, 0x80]);
    expect([...wireToBytes('x\u{1F4FF}y')]).toEqual([0x78, 0xf0, 0x9f, 0x93, 0xbf, 0x79]);
    // A raw byte right next to such an emoji is still a raw byte.
    expect([...wireToBytes('\udcff\u{1F480}\udc80')]).toEqual([0xff, 0xf0, 0x9f, 0x92, 0x80, 0x80]);
  });
});
