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
void jb_str(jbuf *b, const char *s); /* a quoted, escaped JSON string */
void jb_int(jbuf *b, long v);

/* A flat reply: {"v":1,"type":"exit","code":0} and the like. */
typedef struct {
  char type[32];
  long code, signal;
  int has_code, has_signal;
  char message[1024];
  char shell[4096];
} reply;

/* Parses one reply payload. Returns 0, or -1 if it is not a flat JSON object we understand. */
int parse_reply(const char *s, size_t n, reply *out);

#endif
