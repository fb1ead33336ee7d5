/*
 * The client's half of the wire protocol (docs/protocol.md; the schema is defined once, in
 * src/nono-shell/protocol.ts, and validated there). Requests are written as JSON; bytes that are
 * not valid UTF-8 (possible in argv, env and paths) are carried as lone surrogates U+DC80..U+DCFF,
 * one per byte, so every byte survives the trip. Replies are flat JSON objects from our own
 * supervisor; the reader below understands exactly that shape.
 */
#ifndef NONO_WIRE_JSON_H
#define NONO_WIRE_JSON_H

#include <stddef.h>

typedef struct {
  char *data;
  size_t len, cap;
  int oom;
} jbuf;

void jb_raw(jbuf *b, const char *s);
void jb_mem(jbuf *b, const void *s, size_t n); /* n bytes as they are (frame headers) */
void jb_str(jbuf *b, const char *s); /* a quoted, escaped JSON string */
void jb_int(jbuf *b, long v);

/* A flat reply: {"v":1,"type":"exit","code":0} and the like. The strings point into the payload
 * (decoded in place, so there is no length limit and nothing is ever cut short); message and shell
 * are "" when absent. */
typedef struct {
  const char *type, *message, *shell;
  long code, signal; /* code 0..255, signal 1..64: anything else makes the reply unreadable */
  int has_code, has_signal;
} reply;

/* Parses one reply payload in place (s[0..n) is rewritten; s[n] must be writable and is not
 * read). Returns 0, or -1 if it is not a flat JSON object we understand exactly. */
int parse_reply(char *s, size_t n, reply *out);

#endif
