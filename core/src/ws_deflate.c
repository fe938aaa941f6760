/* ws_deflate.c: inflate/deflate of whole messages for permessage-deflate; streams reset per message. */
#include "ws_deflate.h"
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

static z_stream inf, def;
static int inf_ready, def_ready;

int pk__ws_deflate_offered(const char *v, size_t len) {
  static const char name[] = "permessage-deflate";
  for (size_t i = 0; i + sizeof name - 1 <= len; i++) {
    if (strncasecmp(v + i, name, sizeof name - 1)) continue;
    /* a whole token: at the start of an element, ending at ';', ',' , space or the end */
    int starts = i == 0 || v[i - 1] == ',' || v[i - 1] == ' ' || v[i - 1] == '\t';
    size_t e = i + sizeof name - 1;
    int ends = e == len || v[e] == ';' || v[e] == ',' || v[e] == ' ' || v[e] == '\t';
    if (starts && ends) return 1;
  }
  return 0;
}

int pk__ws_inflate(const char *data, size_t len, size_t max, pk__buf *out) {
  static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};
  if (!inf_ready) {
    if (inflateInit2(&inf, -15) != Z_OK) return -ENOMEM;
    inf_ready = 1;
  } else {
    inflateReset(&inf);
  }
  pk__buf_reset(out);
  for (int part = 0; part < 2; part++) {
    inf.next_in = (Bytef *)(part ? tail : (const unsigned char *)data);
    inf.avail_in = (uInt)(part ? sizeof tail : len);
    while (inf.avail_in > 0) {
      if (pk__buf_reserve(out, 16384)) return -ENOMEM;
      inf.next_out = (Bytef *)out->data + out->len;
      inf.avail_out = (uInt)(out->cap - out->len);
      int rc = inflate(&inf, Z_SYNC_FLUSH);
      out->len = out->cap - inf.avail_out;
      if (out->len > max) return -E2BIG;
      if (rc == Z_STREAM_END) break;
      if (rc == Z_BUF_ERROR && inf.avail_out > 0) break;   /* nothing more to do with this input */
      if (rc != Z_OK && rc != Z_BUF_ERROR) return -EINVAL;
    }
  }
  return 0;
}

int pk__ws_deflate(const char *data, size_t len, pk__buf *out) {
  if (!def_ready) {
    if (deflateInit2(&def, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -ENOMEM;
    def_ready = 1;
  } else {
    deflateReset(&def);
  }
  pk__buf_reset(out);
  def.next_in = (Bytef *)data;
  def.avail_in = (uInt)len;
  do {
    if (pk__buf_reserve(out, len / 2 + 64)) return -ENOMEM;
    def.next_out = (Bytef *)out->data + out->len;
    def.avail_out = (uInt)(out->cap - out->len);
    if (deflate(&def, Z_SYNC_FLUSH) == Z_STREAM_ERROR) return -EINVAL;
    out->len = out->cap - def.avail_out;
  } while (def.avail_out == 0);
  if (out->len >= 4 && memcmp(out->data + out->len - 4, "\x00\x00\xff\xff", 4) == 0) out->len -= 4;
  return 0;
}
