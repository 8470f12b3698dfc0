/* web_auth — passwords (crypt(3) from libxcrypt: hashes are verified with
 * crypt_rn, new ones are yescrypt "$y$" from crypt_gensalt_ra) and HTTP
 * Basic credentials.
 *
 * libcrypt is dlopen()ed when a password hash is first checked or made
 * (a console user in the config, a login, `gridgw passwd`), not linked: a
 * gateway without a console never maps it (80 kB of RSS, issue #12). */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/dynlib.h"
#include "common/log.h"
#include "gateway/web/web.h"
#include "gateway/web/web_priv.h"

#define CRYPT_SONAME "libcrypt.so.1"
#define CRYPT_PACKAGE "libcrypt1"

static struct {
	__typeof__(crypt_rn) *rn;
	__typeof__(crypt_gensalt_ra) *gensalt_ra;
	__typeof__(crypt_checksalt) *checksalt;
} lc;
static pthread_mutex_t lc_mu = PTHREAD_MUTEX_INITIALIZER;
static bool lc_loaded, lc_warned;

/* 0 once libcrypt is resolved; a failure is logged once (the library and
 * the package to install) and tried again at the next call. */
static int crypt_load(void)
{
	pthread_mutex_lock(&lc_mu);
	if (!lc_loaded) {
		const struct dynlib_sym syms[] = {
			{ "crypt_rn", (void **)&lc.rn },
			{ "crypt_gensalt_ra", (void **)&lc.gensalt_ra },
			{ "crypt_checksalt", (void **)&lc.checksalt },
		};
		char err[256];
		if (dynlib_open("passwords", CRYPT_SONAME, CRYPT_PACKAGE, syms, sizeof syms / sizeof syms[0], err,
				sizeof err)) {
			lc_loaded = true;
		} else if (!lc_warned) {
			lc_warned = true;
			log_error("web", "%s", err);
		}
	}
	bool ok = lc_loaded;
	pthread_mutex_unlock(&lc_mu);
	return ok ? 0 : -ELIBACC;
}

/* The setting part of a hash is everything up to its last '$'. */
static size_t setting_len(const char *hash)
{
	const char *last = strrchr(hash, '$');
	return last ? (size_t)(last - hash) : 0;
}

bool web_hash_usable(const char *hash)
{
	if (hash == NULL || hash[0] != '$' || strlen(hash) >= CRYPT_OUTPUT_SIZE || crypt_load() != 0)
		return false;
	if (lc.checksalt(hash) != CRYPT_SALT_OK)
		return false;
	/* A setting alone ("$y$j9T$salt") passes crypt_checksalt too: a real
	 * hash is what crypt gives back for it, same setting, same length. */
	struct crypt_data *cd = calloc(1, sizeof *cd);
	if (cd == NULL)
		return false;
	const char *out = lc.rn("probe", hash, cd, (int)sizeof *cd);
	bool ok = out != NULL && out[0] == '$' && strlen(out) == strlen(hash) && setting_len(out) == setting_len(hash) &&
		  strncmp(out, hash, setting_len(hash)) == 0;
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok;
}

int web_password_verify(const char *password, const char *hash)
{
	if (password == NULL || hash == NULL || hash[0] != '$')
		return -EINVAL;
	int lrc = crypt_load();
	if (lrc)
		return lrc;
	struct crypt_data *cd = calloc(1, sizeof *cd);
	if (cd == NULL)
		return -ENOMEM;
	const char *out = lc.rn(password, hash, cd, (int)sizeof *cd);
	int rc;
	if (out == NULL || out[0] != '$')
		rc = -EINVAL;
	else
		rc = web_secret_equal(out, hash) ? 0 : -EACCES;
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return rc;
}

int web_password_hash(const char *password, char *out, size_t outlen)
{
	if (password == NULL || out == NULL)
		return -EINVAL;
	int lrc = crypt_load();
	if (lrc)
		return lrc;
	/* count 0 = libcrypt's default cost for yescrypt; NULL rbytes = it reads
	 * the salt from the kernel's random source itself. */
	char *setting = lc.gensalt_ra("$y$", 0, NULL, 0);
	if (setting == NULL)
		return errno ? -errno : -EINVAL;
	struct crypt_data *cd = calloc(1, sizeof *cd);
	if (cd == NULL) {
		free(setting);
		return -ENOMEM;
	}
	const char *h = lc.rn(password, setting, cd, (int)sizeof *cd);
	int rc = 0;
	if (h == NULL || h[0] != '$')
		rc = -EINVAL;
	else if (strlen(h) >= outlen)
		rc = -ENOSPC;
	else
		memcpy(out, h, strlen(h) + 1);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	free(setting);
	return rc;
}

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Standard base64 with padding; out gets a NUL. Returns the length or -1. */
static long b64_decode(const char *in, size_t n, char *out, size_t cap)
{
	if (n % 4 != 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char ch = (unsigned char)in[i + k];
			if (ch == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -1;   /* data after padding */
			v[k] = b64_value(ch);
			if (v[k] < 0)
				return -1;
		}
		unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
		unsigned char bytes[3] = { (unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w };
		for (int k = 0; k < 3 - pad; k++) {
			if (o + 1 >= cap)
				return -2;
			out[o++] = (char)bytes[k];
		}
	}
	out[o] = '\0';
	return (long)o;
}

int web_basic_decode(const char *header, char *user, size_t userlen, char *pass, size_t passlen)
{
	if (header == NULL || user == NULL || pass == NULL || userlen == 0 || passlen == 0)
		return -EINVAL;
	if (strncasecmp(header, "Basic ", 6) != 0)
		return -EINVAL;
	const char *p = header + 6;
	while (*p == ' ')
		p++;
	size_t n = strlen(p);
	while (n > 0 && p[n - 1] == ' ')
		n--;
	char buf[512];
	if (n > 4 * (sizeof buf / 3))
		return -E2BIG;
	long len = b64_decode(p, n, buf, sizeof buf);
	if (len == -2)
		return -E2BIG;
	if (len < 0)
		return -EINVAL;
	int rc = 0;
	char *colon = memchr(buf, ':', (size_t)len);
	if (colon == NULL || memchr(buf, '\0', (size_t)len) != NULL) {
		rc = -EINVAL;
		goto out;
	}
	for (long i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if (ch < 0x20 || ch == 0x7f) {
			rc = -EINVAL;
			goto out;
		}
	}
	size_t ul = (size_t)(colon - buf), pl = (size_t)len - ul - 1;
	if (ul == 0) {
		rc = -EINVAL;
		goto out;
	}
	if (ul >= userlen || pl >= passlen) {
		rc = -E2BIG;
		goto out;
	}
	memcpy(user, buf, ul);
	user[ul] = '\0';
	memcpy(pass, colon + 1, pl);
	pass[pl] = '\0';
out:
	explicit_bzero(buf, sizeof buf);
	return rc;
}
