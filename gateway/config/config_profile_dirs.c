/* config_profile_dirs — the two profile directories. gateway.profiles_dir is
 * the installer's (/etc/gridgw/profiles); gateway.vendor_profiles_dir holds
 * the profiles shipped with gridgw (compiled-in default
 * $(DATADIR)/gridgw/profiles), replaced on every upgrade. The installer's
 * win: a vendor file with the name of one in profiles_dir is not read at
 * all (a copied and edited smoke_detector.conf replaces the shipped one),
 * and a vendor profile whose name is already defined anywhere else is
 * skipped. Within one directory a name defined twice stays an error. */
#include "gateway/config/config_priv.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_regular_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool same_path(const char *a, const char *b)
{
	char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
	bool same = ra && rb && strcmp(ra, rb) == 0;
	free(ra);
	free(rb);
	return same;
}

static void read_profile_file(struct cfg_ctx *c, const char *path)
{
	struct cfg_src *src = cfg_src_parse_file(c, path);
	if (!src)
		return;
	static const char *const keys[] = { "profiles", NULL };
	const config_setting_t *root = config_root_setting(&src->lc);
	rd_check_keys_note(c, root, keys, "a profiles_dir file (it may only define 'profiles')", NULL, NULL);
	const config_setting_t *profiles = rd_group(c, root, "profiles", true);
	if (profiles)
		cfg_read_profiles(c, profiles);
}

/* Every *.conf of `dir`, in name order, each `profiles = {...};`. `key` names
 * the setting for errors; `at` is that setting when it was given explicitly
 * (a missing explicit directory is an error, a missing default one is not).
 * With `shadow` set, a file whose name also exists in `shadow` is skipped. */
static void load_dir(struct cfg_ctx *c, const char *dir, const char *key, const config_setting_t *at,
		     const char *shadow)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (at)
			cfg_err(c, at, "%s \"%s\": %s", key, dir, strerror(errno));
		else if (errno != ENOENT)
			config_errors_add(c->errs, c->files[0], 0, "default %s \"%s\": %s", key, dir, strerror(errno));
		return;
	}
	char **names = NULL;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || !ends_with(e->d_name, ".conf"))
			continue;
		names = cfg_xrealloc(names, (size_t)n + 1, sizeof *names);
		names[n++] = cfg_xstrdup(e->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, (size_t)n, sizeof *names, cmp_names);
	for (int i = 0; i < n; i++) {
		char *path = cfg_path_join(dir, names[i]);
		char *mine = shadow ? cfg_path_join(shadow, names[i]) : NULL;
		/* The main file itself may sit in the directory (profiles_dir = "."). */
		bool skip = same_path(path, c->cfg->path) || (mine && is_regular_file(mine));
		if (!skip && is_regular_file(path))
			read_profile_file(c, path);
		free(mine);
		free(path);
		free(names[i]);
	}
	free(names);
}

void cfg_load_profile_dirs(struct cfg_ctx *c)
{
	const struct gateway_config *g = &c->cfg->gateway;
	load_dir(c, g->profiles_dir, "profiles_dir", c->profiles_dir_at, NULL);
	const char *vendor = g->vendor_profiles_dir;
	if (!vendor || same_path(vendor, g->profiles_dir))
		return;
	c->in_vendor_dir = true;
	c->first_vendor_profile = c->cfg->n_profiles;
	load_dir(c, vendor, "vendor_profiles_dir", c->vendor_dir_at, g->profiles_dir);
	c->in_vendor_dir = false;
}
