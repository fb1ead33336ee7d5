/* See wire_json.h. */
#include "wire_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void jb_put(jbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (b->len + n + 1 > cap) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
      b->oom = 1;
      return;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
}

void jb_raw(jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }

void jb_int(jbuf *b, long v) {
  char t[32];
  snprintf(t, sizeof t, "%ld", v);
  jb_raw(b, t);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. */
static int utf8_len(const unsigned char *s) {
  if (s[0] < 0x80) return 1;
  int n;
  unsigned min;
  unsigned cp;
  if ((s[0] & 0xE0) == 0xC0) n = 2, min = 0x80, cp = s[0] & 0x1F;
  else if ((s[0] & 0xF0) == 0xE0) n = 3, min = 0x800, cp = s[0] & 0x0F;
  else if ((s[0] & 0xF8) == 0xF0) n = 4, min = 0x10000, cp = s[0] & 0x07;
  else return 0;
  for (int i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

void jb_str(jbuf *b, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  jb_put(b, "\"", 1);
  while (*s) {
    char esc[8];
    if (*s == '"' || *s == '\\') {
      esc[0] = '\\', esc[1] = (char)*s;
      jb_put(b, esc, 2);
      s++;
    } else if (*s < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *s);
      jb_put(b, esc, 6);
      s++;
    } else {
      int n = utf8_len(s);
      if (n) {
        jb_put(b, (const char *)s, (size_t)n);
        s += n;
      } else {
        snprintf(esc, sizeof esc, "\\udc%02x", *s); /* one raw byte, see header */
        jb_put(b, esc, 6);
        s++;
      }
    }
  }
  jb_put(b, "\"", 1);
}

/* --- reply reader --- */

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) p++;
  return p;
}

/* Reads a JSON string at p into out (ASCII escapes decoded, \u escapes above 0x7f become '?':
 * replies carry messages for humans, not data). Returns the position after it, or NULL. */
static const char *read_str(const char *p, const char *end, char *out, size_t cap) {
  if (p >= end || *p != '"') return NULL;
  p++;
  size_t k = 0;
  while (p < end && *p != '"') {
    char c = *p++;
    if (c == '\\') {
      if (p >= end) return NULL;
      char e = *p++;
      switch (e) {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'u': {
          if (end - p < 4) return NULL;
          char hex[5] = {p[0], p[1], p[2], p[3], 0};
          long v = strtol(hex, NULL, 16);
          c = v < 0x80 ? (char)v : '?';
          p += 4;
          break;
        }
        default: c = e;
      }
    }
    if (k + 1 < cap) out[k++] = c;
  }
  if (p >= end) return NULL;
  out[k] = 0;
  return p + 1;
}

int parse_reply(const char *s, size_t n, reply *out) {
  memset(out, 0, sizeof *out);
  const char *p = s, *end = s + n;
  p = skip_ws(p, end);
  if (p >= end || *p++ != '{') return -1;
  for (;;) {
    p = skip_ws(p, end);
    if (p < end && *p == '}') return out->type[0] ? 0 : -1;
    char key[32];
    if (!(p = read_str(p, end, key, sizeof key))) return -1;
    p = skip_ws(p, end);
    if (p >= end || *p++ != ':') return -1;
    p = skip_ws(p, end);
    if (p < end && *p == '"') {
      char *dst = NULL;
      size_t cap = 0;
      char scratch[64];
      if (!strcmp(key, "type")) dst = out->type, cap = sizeof out->type;
      else if (!strcmp(key, "message")) dst = out->message, cap = sizeof out->message;
      else if (!strcmp(key, "shell")) dst = out->shell, cap = sizeof out->shell;
      else dst = scratch, cap = sizeof scratch;
      if (!(p = read_str(p, end, dst, cap))) return -1;
    } else {
      char *num_end;
      long v = strtol(p, &num_end, 10);
      if (num_end == p) {
        /* null, true, false: skip the word */
        while (p < end && *p >= 'a' && *p <= 'z') p++;
      } else {
        p = num_end;
        if (!strcmp(key, "code")) out->code = v, out->has_code = 1;
        else if (!strcmp(key, "signal")) out->signal = v, out->has_signal = 1;
      }
    }
    p = skip_ws(p, end);
    if (p < end && *p == ',') {
      p++;
      continue;
    }
    if (p < end && *p == '}') return out->type[0] ? 0 : -1;
    return -1;
  }
}
