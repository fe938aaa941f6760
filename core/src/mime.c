/* mime.c: the Content-Type of a file served from disk, by its extension. */
#include "mime.h"
#include <string.h>
#include <strings.h>

static const struct { const char *ext, *type; } types[] = {
  {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
  {"css", "text/css; charset=utf-8"}, {"js", "text/javascript; charset=utf-8"},
  {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
  {"map", "application/json"}, {"webmanifest", "application/manifest+json"},
  {"txt", "text/plain; charset=utf-8"}, {"md", "text/markdown; charset=utf-8"},
  {"csv", "text/csv; charset=utf-8"}, {"xml", "application/xml"}, {"svg", "image/svg+xml"},
  {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"gif", "image/gif"},
  {"webp", "image/webp"}, {"avif", "image/avif"}, {"ico", "image/vnd.microsoft.icon"},
  {"bmp", "image/bmp"}, {"woff", "font/woff"}, {"woff2", "font/woff2"}, {"ttf", "font/ttf"},
  {"otf", "font/otf"}, {"wasm", "application/wasm"}, {"pdf", "application/pdf"},
  {"zip", "application/zip"}, {"gz", "application/gzip"}, {"br", "application/octet-stream"},
  {"tar", "application/x-tar"}, {"mp4", "video/mp4"}, {"webm", "video/webm"}, {"ogv", "video/ogg"},
  {"mp3", "audio/mpeg"}, {"ogg", "audio/ogg"}, {"oga", "audio/ogg"}, {"wav", "audio/wav"},
  {"flac", "audio/flac"}, {"m4a", "audio/mp4"}, {"vtt", "text/vtt; charset=utf-8"},
  {"ics", "text/calendar; charset=utf-8"}, {"yaml", "application/yaml"}, {"yml", "application/yaml"},
  {"toml", "application/toml"}, {"rss", "application/rss+xml"}, {"atom", "application/atom+xml"},
};

const char *pk__mime_type(const char *name, size_t n) {
  const char *dot = NULL;
  for (size_t i = n; i > 0; i--) {
    if (name[i - 1] == '.') { dot = name + i; break; }
    if (name[i - 1] == '/') break;
  }
  if (dot) {
    size_t elen = n - (size_t)(dot - name);
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
      if (strlen(types[i].ext) == elen && strncasecmp(types[i].ext, dot, elen) == 0) return types[i].type;
  }
  return "application/octet-stream";
}
