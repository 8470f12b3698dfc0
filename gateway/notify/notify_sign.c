/* notify_sign — the signatures the robot APIs ask for, and the encodings
 * around them. HMAC-SHA256 comes from OpenSSL's libcrypto (HMAC(3)); the
 * rest is a few lines each so that the exact bytes are visible here:
 * DingTalk and Feishu differ only in which of key and message carries the
 * timestamp, and a mix-up is what their error codes 310000 / 19021 mean.
 *
 * libcrypto is dlopen()ed at the first signature, not linked: a gateway
 * that signs nothing (no robot secret, no webhook secret) never maps it
 * (1.7 MB of RSS, docs/benchmarks.md). When notifications run it is in the
 * process anyway, libcurl's dependency, so loading it costs nothing more. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/dynlib.h"
#include "common/log.h"
#include "gateway/notify/notify_priv.h"

#define CRYPTO_SONAME "libcrypto.so.3"
#define CRYPTO_PACKAGE "libssl3"

static struct {
	__typeof__(HMAC) *hmac;
	__typeof__(EVP_sha256) *sha256;
} crypto;
static pthread_mutex_t crypto_mu = PTHREAD_MUTEX_INITIALIZER;
static bool crypto_loaded, crypto_warned;

/* 0 once libcrypto's two functions are resolved; a failure is logged once
 * (the library and the package to install) and tried again next time. */
static int crypto_load(void)
{
	pthread_mutex_lock(&crypto_mu);
	if (!crypto_loaded) {
		const struct dynlib_sym syms[] = {
			{ "HMAC", (void **)&crypto.hmac },
			{ "EVP_sha256", (void **)&crypto.sha256 },
		};
		char err[256];
		if (dynlib_open("notify signing", CRYPTO_SONAME, CRYPTO_PACKAGE, syms, sizeof syms / sizeof syms[0],
				err, sizeof err)) {
			crypto_loaded = true;
		} else if (!crypto_warned) {
			crypto_warned = true;
			log_error("notify", "%s", err);
		}
	}
	bool ok = crypto_loaded;
	pthread_mutex_unlock(&crypto_mu);
	return ok ? 0 : -ELIBACC;
}

int notify_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
		       unsigned char out[NOTIFY_SHA256_LEN])
{
	unsigned int len = 0;
	static const unsigned char empty = 0;
	/* HMAC() takes int key lengths and refuses a NULL message pointer. */
	if (keylen > (size_t)INT32_MAX)
		return -EINVAL;
	int rc = crypto_load();
	if (rc)
		return rc;
	if (!crypto.hmac(crypto.sha256(), key, (int)keylen, msglen ? msg : &empty, msglen, out, &len) ||
	    len != NOTIFY_SHA256_LEN)
		return -EIO;
	return 0;
}

size_t notify_base64(const unsigned char *in, size_t n, char *out)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tbl[(v >> 18) & 63];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tbl[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

int notify_urlencode(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			     *p == '-' || *p == '.' || *p == '_' || *p == '~';
		if (o + (plain ? 1 : 3) >= outlen)
			return -1;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

void notify_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int notify_sign_dingtalk(const char *secret, int64_t ts_ms, char *out, size_t outlen)
{
	size_t slen = strlen(secret);
	size_t mlen = slen + 24;
	char *msg = malloc(mlen);
	if (!msg)
		return -ENOMEM;
	int n = snprintf(msg, mlen, "%" PRId64 "\n%s", ts_ms, secret);
	unsigned char mac[NOTIFY_SHA256_LEN];
	int rc = n < 0 || (size_t)n >= mlen ? -EINVAL : notify_hmac_sha256(secret, slen, msg, (size_t)n, mac);
	free(msg);
	if (rc)
		return rc;
	char b64[48];
	notify_base64(mac, sizeof mac, b64);
	return notify_urlencode(b64, out, outlen) == 0 ? 0 : -ENOSPC;
}

int notify_sign_feishu(const char *secret, int64_t ts_s, char *out, size_t outlen)
{
	size_t klen = strlen(secret) + 24;
	char *key = malloc(klen);
	if (!key)
		return -ENOMEM;
	int n = snprintf(key, klen, "%" PRId64 "\n%s", ts_s, secret);
	unsigned char mac[NOTIFY_SHA256_LEN];
	int rc = n < 0 || (size_t)n >= klen ? -EINVAL : notify_hmac_sha256(key, (size_t)n, "", 0, mac);
	free(key);
	if (rc)
		return rc;
	if (outlen < 45)
		return -ENOSPC;
	notify_base64(mac, sizeof mac, out);
	return 0;
}

int notify_sign_webhook(const char *secret, const char *body, size_t len, char *out, size_t outlen)
{
	unsigned char mac[NOTIFY_SHA256_LEN];
	int rc = notify_hmac_sha256(secret, strlen(secret), body, len, mac);
	if (rc)
		return rc;
	if (outlen < 7 + 2 * NOTIFY_SHA256_LEN + 1)
		return -ENOSPC;
	memcpy(out, "sha256=", 7);
	notify_hex(mac, sizeof mac, out + 7);
	return 0;
}
