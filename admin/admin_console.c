/*
 * The web console's files, compiled into the binary (build/admin_assets.c is
 * generated from admin/console/ by admin/tools/bin2c): GET / is index.html,
 * GET /static/{name} any of them. No file is read at run time.
 */
#include <stddef.h>
#include <string.h>

#include "admin/admin_priv.h"

/* The generated table (the layout bin2c writes), ended by a NULL name. */
struct admin_asset {
	const char *name;
	const unsigned char *data;
	size_t len;
};
extern const struct admin_asset admin_assets[];

static const struct {
	const char *ext, *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *content_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(content_types) / sizeof(content_types[0]); i++)
		if (strcmp(dot, content_types[i].ext) == 0)
			return content_types[i].type;
	return "application/octet-stream";
}

static const struct admin_asset *find_asset(const char *name)
{
	for (const struct admin_asset *a = admin_assets; a->name; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

enum MHD_Result admin_h_console(struct relay_req *req)
{
	/* GET / has no argument; GET /static/{name} names the file */
	const char *name = req->arg[0] ? req->arg : "index.html";
	const struct admin_asset *a = find_asset(name);
	const char *type;
	/* The HTML gets the page's security headers; every answer the first two. */
	const struct relay_header headers[] = {
	    {MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache"},
	    {"X-Content-Type-Options", "nosniff"},
	    {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"},
	    {"Referrer-Policy", "no-referrer"},
	    {"X-Frame-Options", "DENY"},
	};
	size_t n_headers = sizeof(headers) / sizeof(headers[0]);

	if (!a)
		return relay_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", NULL,
		                         "no such file in the console");
	type = content_type(a->name);
	if (strncmp(type, "text/html", 9) != 0)
		n_headers = 2;
	return relay_reply_body(req, MHD_HTTP_OK, type, a->data, a->len, headers, n_headers);
}
