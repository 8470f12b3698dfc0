/* dynlib — a library loaded at run time instead of linked: its functions
 * resolved into the caller's table all at once, or not at all. gridgw loads
 * libcurl (notifications) and libmicrohttpd (the console) this way, so a
 * gateway without them pays none of their pages (docs/benchmarks.md) and one
 * without the package still runs everything else. */
#ifndef GRIDGW_DYNLIB_H
#define GRIDGW_DYNLIB_H

#include <stddef.h>

/* One function to resolve: its exported name and where its address goes
 * (the address of a function pointer, cast: `(void **)&table.fn`). */
struct dynlib_sym {
	const char *name;
	void **slot;
};

/* Opens soname and resolves every symbol into its slot. On failure returns
 * NULL, leaves every slot NULL and the library closed, and writes to err,
 * prefixed by who ("console"), why in plain words: the soname that cannot
 * be loaded and the Debian package to install, or the first symbol missing
 * (a library too old). The handle is never closed by gridgw once loaded:
 * pointers into it live as long as the process. */
void *dynlib_open(const char *who, const char *soname, const char *package, const struct dynlib_sym *syms,
		  size_t n_syms, char *err, size_t errlen);

#endif
