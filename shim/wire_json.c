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

void jb_mem(jbuf *b, const void *s, size_t n) { jb_put(b, s, n); }

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

static int hex4(const char *p, const char *end, unsigned *out) {
  if (end - p < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v << 4 | (unsigned)d;
  }
  *out = v;
  return 0;
}

/* Writes code point cp (never a surrogate) as UTF-8 at w; returns the bytes written. */
static int put_utf8(char *w, unsigned cp) {
  if (cp < 0x80) return w[0] = (char)cp, 1;
  if (cp < 0x800) return w[0] = (char)(0xC0 | cp >> 6), w[1] = (char)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000)
    return w[0] = (char)(0xE0 | cp >> 12), w[1] = (char)(0x80 | (cp >> 6 & 0x3F)), w[2] = (char)(0x80 | (cp & 0x3F)), 3;
  w[0] = (char)(0xF0 | cp >> 18), w[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  w[2] = (char)(0x80 | (cp >> 6 & 0x3F)), w[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/*
 * Decodes the JSON string at p in place: the text is rewritten over its own quoted form (decoding
 * only ever shrinks it) and NUL-terminated, so a string of any length fits and nothing is cut.
 * Lone surrogates U+DC80..U+DCFF become the raw byte they carry (the request's convention, see the
 * header), so a path the supervisor echoes back keeps its exact bytes. What a C string cannot hold
 * exactly is an error, never approximated: \u0000, other lone surrogates, raw control characters,
 * unknown escapes. Returns the position after the closing quote and sets *out, or NULL.
 */
static char *read_str(char *p, const char *end, char **out) {
  if (p >= end || *p != '"') return NULL;
  char *w = p++;
  *out = w;
  while (p < end && *p != '"') {
    unsigned char c = (unsigned char)*p++;
    if (c < 0x20) return NULL;
    if (c != '\\') {
      *w++ = (char)c;
      continue;
    }
    if (p >= end) return NULL;
    switch (*p++) {
      case '"': *w++ = '"'; break;
      case '\\': *w++ = '\\'; break;
      case '/': *w++ = '/'; break;
      case 'n': *w++ = '\n'; break;
      case 't': *w++ = '\t'; break;
      case 'r': *w++ = '\r'; break;
      case 'b': *w++ = '\b'; break;
      case 'f': *w++ = '\f'; break;
      case 'u': {
        unsigned cp, lo;
        if (hex4(p, end, &cp) != 0) return NULL;
        p += 4;
        if (cp == 0) return NULL;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            return NULL;
          p += 6;
          w += put_utf8(w, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
        } else if (cp >= 0xDC80 && cp <= 0xDCFF) {
          *w++ = (char)(cp - 0xDC00);
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
          return NULL;
        } else {
          w += put_utf8(w, cp);
        }
        break;
      }
      default: return NULL;
    }
  }
  if (p >= end) return NULL;
  *w = 0; /* w <= the closing quote's position: already read */
  return p + 1;
}

/* Skips a JSON number or one of the words null, true, false (values of fields we do not know). */
static char *skip_scalar(char *p, const char *end) {
  char *start = p;
  while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '-' || *p == '+' || *p == '.' || *p == 'E'))
    p++;
  return p == start ? NULL : p;
}

/* An integer field: digits only (with an optional minus), within [lo, hi]; else the reply is
 * refused (a status outside the range would otherwise be wrapped into another one). */
static char *read_int(char *p, const char *end, long lo, long hi, long *out) {
  char *q = p;
  int neg = q < end && *q == '-';
  if (neg) q++;
  if (q >= end || *q < '0' || *q > '9') return NULL;
  long v = 0;
  while (q < end && *q >= '0' && *q <= '9') {
    if (v > 100000) return NULL; /* far outside any range we accept: stop before it overflows */
    v = v * 10 + (*q++ - '0');
  }
  if (q < end && (*q == '.' || *q == 'e' || *q == 'E')) return NULL;
  if (neg) v = -v;
  if (v < lo || v > hi) return NULL;
  *out = v;
  return q;
}

int parse_reply(char *s, size_t n, reply *out) {
  memset(out, 0, sizeof *out);
  char *p = s;
  const char *end = s + n;
  p = (char *)skip_ws(p, end);
  if (p >= end || *p++ != '{') return -1;
  for (;;) {
    p = (char *)skip_ws(p, end);
    if (p < end && *p == '}') break;
    char *key;
    if (!(p = read_str(p, end, &key))) return -1;
    p = (char *)skip_ws(p, end);
    if (p >= end || *p++ != ':') return -1;
    p = (char *)skip_ws(p, end);
    if (!strcmp(key, "code")) {
      if (!(p = read_int(p, end, 0, 255, &out->code))) return -1;
      out->has_code = 1;
    } else if (!strcmp(key, "signal")) {
      if (!(p = read_int(p, end, 1, 64, &out->signal))) return -1;
      out->has_signal = 1;
    } else if (p < end && *p == '"') {
      char *v;
      if (!(p = read_str(p, end, &v))) return -1;
      if (!strcmp(key, "type")) out->type = v;
      else if (!strcmp(key, "message")) out->message = v;
      else if (!strcmp(key, "shell")) out->shell = v;
    } else if (!(p = skip_scalar(p, end))) {
      return -1;
    }
    p = (char *)skip_ws(p, end);
    if (p < end && *p == ',') {
      p++;
      continue;
    }
    if (p < end && *p == '}') break;
    return -1;
  }
  if (!out->type) return -1;
  if (!out->message) out->message = "";
  if (!out->shell) out->shell = "";
  return 0;
}
