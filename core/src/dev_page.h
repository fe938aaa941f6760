/* dev_page.h: under --dev, the 500 answer that shows the last load error (file:line) to the next request. */
#ifndef PK_DEV_PAGE_H
#define PK_DEV_PAGE_H
#include "http_conn.h"

/* A worker starts: errors set before it count as seen. */
void pk__dev_page_init(void);
/* Under --dev, when the app failed to load (or its native code to build) since the last request
 * this worker answered, answers r with that error (an HTML page when the client accepts
 * text/html, else Pikku's JSON error body with payload {file, line, error}) and returns 1; else 0. */
int pk__dev_page(pk__conn *c, pk__request *r);
/* The page's parts, for tests: "file" and line of the first "file:line:" in err (0: none). */
int pk__dev_page_where(const char *err, char *file, size_t filelen, int *line);
#endif
