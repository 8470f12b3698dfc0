/* config_secret — secrets in the configuration (issue #14): the broker
 * passwords, the notification robots' keys and signing secrets, the TLS
 * private keys. gridgw.conf is meant to be readable by the operators
 * (group gridgw), so a secret lives in a file of its own that only the
 * service user can read: `password_file`, `secret_file`, `url_file` are read
 * here, into the same struct field the inline key fills, so the modules
 * using a secret never know where it came from. What is still inline in a
 * file others can read, a key file others can read, and TLS checks turned
 * off are warnings. No secret's value ever appears in an error or warning. */
#include "gateway/config/config_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest secret a file may hold (a robot url with its key is ~120 bytes). */
#define SECRET_MAX 4096

/* A warning at a setting, FILE:LINE: warning: … */
static void warn_at(struct cfg_ctx *c, const config_setting_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warn_at(struct cfg_ctx *c, const config_setting_t *at, const char *fmt, ...)
{
	const char *file = NULL;
	int line = 0;
	cfg_where(c, at, &file, &line);
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	config_warnings_add(c->errs, file ? file : "?", line, 0, "%s", msg);
}

/* The mode bits of the config file a setting was written in, or -1 when that
 * file cannot be looked at (a config given as text, by tests and the fuzzer). */
static int mode_of_setting_file(const struct cfg_ctx *c, const config_setting_t *at)
{
	const char *file = NULL;
	int line = 0;
	struct stat st;
	cfg_where(c, at, &file, &line);
	if (!file || stat(file, &st) != 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

char *cfg_read_secret_file(struct cfg_ctx *c, const config_setting_t *at, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == EACCES && c->secrets_optional) {
		warn_at(c, at, "secret file '%s' not read: only the service user may (run this as root or as the "
			"service user to check it)", path);
		return cfg_xstrdup("");
	}
	if (fd < 0) {
		cfg_err(c, at, "cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		cfg_err(c, at, "'%s' is not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st.st_mode & 077) {
		cfg_err(c, at, "'%s' is readable by others (mode %04o): make it 0600 or 0400, owned by the service user",
			path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return NULL;
	}
	/* One byte more than a secret may have: a longer first line is an
	 * error, not a secret cut short. */
	char *buf = cfg_xcalloc(SECRET_MAX + 2, 1);
	ssize_t n = read(fd, buf, SECRET_MAX + 1);
	close(fd);
	if (n < 0) {
		cfg_err(c, at, "cannot read '%s': %s", path, strerror(errno));
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	size_t len = strcspn(buf, "\r\n");
	if (len > SECRET_MAX) {
		cfg_err(c, at, "'%s': the secret on its first line is longer than %d bytes", path, SECRET_MAX);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	if (!buf[0]) {
		cfg_err(c, at, "'%s' is empty (it must hold the secret on its first line)", path);
		free(buf);
		return NULL;
	}
	if (buf[len - 1] == ' ' || buf[len - 1] == '\t')
		warn_at(c, at, "the secret in '%s' ends with a blank, which is kept as part of it", path);
	return buf;
}

void cfg_read_secret(struct cfg_ctx *c, const config_setting_t *g, const char *key, const char *file_key,
		     bool warn_inline, char **out)
{
	char *path = NULL;
	bool inline_set = rd_string(c, g, key, false, out) > 0;
	if (rd_string(c, g, file_key, false, &path) > 0) {
		const config_setting_t *at = config_setting_get_member(g, file_key);
		if (inline_set) {
			cfg_err(c, at, "give '%s' or '%s', not both", key, file_key);
		} else {
			char *full = cfg_path_join(c->main_dir, path);
			*out = cfg_read_secret_file(c, at, full);
			free(full);
		}
	}
	free(path);
	if (!inline_set)
		return;
	const config_setting_t *at = config_setting_get_member(g, key);
	if (!(*out)[0]) {
		cfg_err(c, at, "'%s' must not be empty", key);
		return;
	}
	int mode = warn_inline ? mode_of_setting_file(c, at) : -1;
	if (mode >= 0 && (mode & 044))
		warn_at(c, at,
			"'%s' is a secret written in a file that %s can read (mode %04o): put it in a file of its own "
			"and name it with '%s' (mode 0600, owned by the service user)",
			key, (mode & 004) ? "every local user" : "its group", (unsigned)mode, file_key);
}

void cfg_check_key_file(struct cfg_ctx *c, const config_setting_t *g, const char *key, const char *path)
{
	struct stat st;
	if (!path || stat(path, &st) != 0)
		return; /* the module that reads it says why it cannot */
	if (st.st_mode & 077)
		warn_at(c, config_setting_get_member(g, key),
			"private key '%s' can be read by %s (mode %04o): make it 0600 (or 0400), owned by the service user",
			path, (st.st_mode & 004) ? "every local user" : "its group", (unsigned)(st.st_mode & 07777));
}

void cfg_warn_no_verify(struct cfg_ctx *c, const config_setting_t *g, const char *what)
{
	warn_at(c, config_setting_get_member(g, "verify"),
		"%s: verify = false turns off the server certificate's chain and hostname checks: anyone on the "
		"path can pose as the server and read what is sent (and its password)",
		what);
}
