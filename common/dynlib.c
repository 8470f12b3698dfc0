#include "common/dynlib.h"

#include <dlfcn.h>
#include <stdio.h>

static void clear_slots(const struct dynlib_sym *syms, size_t n)
{
	for (size_t i = 0; i < n; i++)
		*syms[i].slot = NULL;
}

void *dynlib_open(const char *who, const char *soname, const char *package, const struct dynlib_sym *syms,
		  size_t n_syms, char *err, size_t errlen)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *why = dlerror();
		snprintf(err, errlen, "%s: cannot load %s: %s (install %s)", who, soname, why ? why : "unknown error",
			 package);
		return NULL;
	}
	for (size_t i = 0; i < n_syms; i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (*syms[i].slot == NULL) {
			snprintf(err, errlen, "%s: %s has no %s (too old; install a newer %s)", who, soname,
				 syms[i].name, package);
			clear_slots(syms, n_syms);
			dlclose(h);
			return NULL;
		}
	}
	return h;
}
