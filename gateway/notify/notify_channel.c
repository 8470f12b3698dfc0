/* notify_channel — the five channel types as data: how a message becomes a
 * request (URL, headers, body, signature), and what an answer means.
 *
 *   wecom     POST url {"msgtype":"markdown"|"text",…}      {"errcode":0}; 45009 too fast
 *   dingtalk  POST url&timestamp=MS&sign=S {"msgtype":…}     {"errcode":0}; 130101 too fast; 310000 refused
 *   feishu    POST url {"timestamp","sign","msg_type",…}     {"code":0}; 11232 too fast; 19021 bad sign
 *   webhook   POST url <the incident event>, X-Gridgw-Signature  any 2xx
 *   email     SMTP(S): RFC 5322 message, UTF-8, base64 body   250
 *
 * Classification decides between retrying (transport, 5xx, "busy"), waiting
 * out an API throttle, and stopping the channel: an answer that no retry can
 * change (bad key, bad signature, refused keyword) must not be hammered. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "gateway/notify/notify_priv.h"

static const char *const type_names[NOTIFY_TYPE_COUNT] = { "wecom", "dingtalk", "feishu", "webhook", "email" };

const char *notify_type_name(enum notify_channel_type type)
{
	return (unsigned)type < NOTIFY_TYPE_COUNT ? type_names[type] : "?";
}

int notify_type_parse(const char *name, enum notify_channel_type *out)
{
	for (int i = 0; i < NOTIFY_TYPE_COUNT; i++)
		if (strcmp(name, type_names[i]) == 0) {
			*out = (enum notify_channel_type)i;
			return 0;
		}
	return -1;
}

int notify_default_rate(enum notify_channel_type type)
{
	switch (type) {
	case NOTIFY_WECOM: return 20;     /* 20 messages/min per robot */
	case NOTIFY_DINGTALK: return 20;  /* 20/min, then 10 min throttled */
	case NOTIFY_FEISHU: return 100;   /* 100/min (and 5/s: see notify_pace) */
	case NOTIFY_WEBHOOK: return 60;
	case NOTIFY_EMAIL: return 10;
	default: return 10;
	}
}

int64_t notify_rate_limit_pause_ms(enum notify_channel_type type)
{
	switch (type) {
	case NOTIFY_DINGTALK: return 10 * 60000; /* DingTalk throttles for 10 minutes */
	case NOTIFY_FEISHU: return 10000;
	default: return 60000;
	}
}

enum notify_format notify_channel_format(const struct notify_channel_config *ch)
{
	if (ch->format != NOTIFY_FMT_DEFAULT)
		return ch->format;
	switch (ch->type) {
	/* A WeCom markdown message cannot @ anyone: with mentions, text. */
	case NOTIFY_WECOM: return ch->n_mention ? NOTIFY_FMT_TEXT : NOTIFY_FMT_MARKDOWN;
	case NOTIFY_DINGTALK: return NOTIFY_FMT_MARKDOWN;
	default: return NOTIFY_FMT_TEXT;
	}
}

size_t notify_channel_limit(const struct notify_channel_config *ch)
{
	switch (ch->type) {
	case NOTIFY_WECOM: return notify_channel_format(ch) == NOTIFY_FMT_MARKDOWN ? 4096 : 2048;
	case NOTIFY_DINGTALK: return 4096;  /* the API allows ~20 KB; a phone screen does not */
	case NOTIFY_FEISHU: return 4096;    /* request body ≤ 20 KB */
	case NOTIFY_EMAIL: return 65536;
	default: return 65536;
	}
}

void notify_request_free(struct notify_request *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->body);
	for (int i = 0; i < r->n_headers; i++)
		free(r->headers[i]);
	memset(r, 0, sizeof *r);
}

static int add_header(struct notify_request *r, const char *line)
{
	if (r->n_headers >= (int)(sizeof r->headers / sizeof r->headers[0]))
		return -ENOSPC;
	r->headers[r->n_headers] = strdup(line);
	if (!r->headers[r->n_headers])
		return -ENOMEM;
	r->n_headers++;
	return 0;
}

static cJSON *mobiles(const struct notify_channel_config *ch)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < ch->n_mention; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(ch->mention[i]));
	return a;
}

static cJSON *wecom_body(const struct notify_channel_config *ch, const struct notify_text *t)
{
	cJSON *root = cJSON_CreateObject();
	bool md = notify_channel_format(ch) == NOTIFY_FMT_MARKDOWN;
	cJSON_AddStringToObject(root, "msgtype", md ? "markdown" : "text");
	cJSON *m = cJSON_AddObjectToObject(root, md ? "markdown" : "text");
	cJSON_AddStringToObject(m, "content", t->body);
	if (!md && ch->n_mention)
		cJSON_AddItemToObject(m, "mentioned_mobile_list", mobiles(ch));
	return root;
}

static cJSON *dingtalk_body(const struct notify_channel_config *ch, const struct notify_text *t)
{
	cJSON *root = cJSON_CreateObject();
	bool md = notify_channel_format(ch) == NOTIFY_FMT_MARKDOWN;
	cJSON_AddStringToObject(root, "msgtype", md ? "markdown" : "text");
	cJSON *m = cJSON_AddObjectToObject(root, md ? "markdown" : "text");
	if (md) {
		cJSON_AddStringToObject(m, "title", t->title);
		cJSON_AddStringToObject(m, "text", t->body);
	} else {
		cJSON_AddStringToObject(m, "content", t->body);
	}
	cJSON *at = cJSON_AddObjectToObject(root, "at");
	cJSON_AddItemToObject(at, "atMobiles", mobiles(ch));
	cJSON_AddBoolToObject(at, "isAtAll", 0);
	return root;
}

static cJSON *feishu_body(const struct notify_channel_config *ch, const struct notify_text *t, int64_t now_ms)
{
	cJSON *root = cJSON_CreateObject();
	if (ch->secret) {
		char ts[24], sign[64];
		snprintf(ts, sizeof ts, "%" PRId64, now_ms / 1000);
		if (notify_sign_feishu(ch->secret, now_ms / 1000, sign, sizeof sign) != 0) {
			cJSON_Delete(root);
			return NULL;
		}
		cJSON_AddStringToObject(root, "timestamp", ts);
		cJSON_AddStringToObject(root, "sign", sign);
	}
	if (notify_channel_format(ch) == NOTIFY_FMT_CARD) {
		cJSON_AddStringToObject(root, "msg_type", "interactive");
		cJSON *card = cJSON_AddObjectToObject(root, "card");
		cJSON *hdr = cJSON_AddObjectToObject(card, "header");
		cJSON *title = cJSON_AddObjectToObject(hdr, "title");
		cJSON_AddStringToObject(title, "tag", "plain_text");
		cJSON_AddStringToObject(title, "content", t->title);
		cJSON_AddStringToObject(hdr, "template", "red");
		cJSON *els = cJSON_AddArrayToObject(card, "elements");
		cJSON *div = cJSON_CreateObject();
		cJSON_AddStringToObject(div, "tag", "div");
		cJSON *txt = cJSON_AddObjectToObject(div, "text");
		cJSON_AddStringToObject(txt, "tag", "lark_md");
		cJSON_AddStringToObject(txt, "content", t->body);
		cJSON_AddItemToArray(els, div);
	} else {
		cJSON_AddStringToObject(root, "msg_type", "text");
		cJSON *c = cJSON_AddObjectToObject(root, "content");
		cJSON_AddStringToObject(c, "text", t->body);
	}
	return root;
}

/* RFC 2047 encoded-word for a UTF-8 header value. */
static char *mime_word(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(4 * ((n + 2) / 3) + 16);
	if (!out)
		return NULL;
	strcpy(out, "=?UTF-8?B?");
	size_t k = notify_base64((const unsigned char *)s, n, out + 10);
	strcpy(out + 10 + k, "?=");
	return out;
}

static int email_message(const struct notify_channel_config *ch, const struct notify_text *t, int64_t now_ms,
			 struct notify_request *out)
{
	size_t blen = strlen(t->body);
	char *b64 = malloc(4 * ((blen + 2) / 3) + 1);
	char *subject = mime_word(t->title);
	size_t tolen = 0;
	for (int i = 0; i < ch->n_to; i++)
		tolen += strlen(ch->to[i]) + 2;
	size_t cap = 4 * ((blen + 2) / 3) * 80 / 76 + strlen(t->title) * 2 + tolen + strlen(ch->from ? ch->from : "") + 512;
	char *msg = malloc(cap);
	if (!b64 || !subject || !msg) {
		free(b64);
		free(subject);
		free(msg);
		return -ENOMEM;
	}
	size_t k = notify_base64((const unsigned char *)t->body, blen, b64);
	char date[64];
	time_t secs = (time_t)(now_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	size_t o = (size_t)snprintf(msg, cap, "Date: %s\r\nFrom: %s\r\nTo: ", date, ch->from ? ch->from : "");
	for (int i = 0; i < ch->n_to; i++)
		o += (size_t)snprintf(msg + o, cap - o, "%s%s", i ? ", " : "", ch->to[i]);
	o += (size_t)snprintf(msg + o, cap - o,
			      "\r\nSubject: %s\r\nMessage-ID: <%" PRId64 ".gridgw@%s>\r\nMIME-Version: 1.0\r\n"
			      "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
			      subject, now_ms, "localhost");
	for (size_t i = 0; i < k && o + 80 < cap; i += 76) {
		size_t take = k - i < 76 ? k - i : 76;
		memcpy(msg + o, b64 + i, take);
		o += take;
		msg[o++] = '\r';
		msg[o++] = '\n';
	}
	msg[o] = '\0';
	free(b64);
	free(subject);
	out->body = msg;
	out->body_len = o;
	out->url = strdup(ch->url);
	return out->url ? 0 : -ENOMEM;
}

static int dingtalk_url(const struct notify_channel_config *ch, int64_t now_ms, struct notify_request *out)
{
	if (!ch->secret) {
		out->url = strdup(ch->url);
		return out->url ? 0 : -ENOMEM;
	}
	char sign[160];
	int rc = notify_sign_dingtalk(ch->secret, now_ms, sign, sizeof sign);
	if (rc)
		return rc;
	size_t n = strlen(ch->url) + strlen(sign) + 48;
	out->url = malloc(n);
	if (!out->url)
		return -ENOMEM;
	snprintf(out->url, n, "%s%ctimestamp=%" PRId64 "&sign=%s", ch->url, strchr(ch->url, '?') ? '&' : '?', now_ms,
		 sign);
	return 0;
}

int notify_build_request(const struct notify_channel_config *ch, const struct notify_text *t,
			 const char *event_json, int64_t now_ms, struct notify_request *out)
{
	memset(out, 0, sizeof *out);
	int rc = 0;
	cJSON *root = NULL;
	switch (ch->type) {
	case NOTIFY_EMAIL:
		rc = email_message(ch, t, now_ms, out);
		if (rc)
			notify_request_free(out);
		return rc;
	case NOTIFY_WEBHOOK: {
		if (event_json) {
			out->body = strdup(event_json);
		} else { /* a test message has no event */
			root = cJSON_CreateObject();
			cJSON_AddStringToObject(root, "schema", "gridgw.notify-test/1");
			cJSON_AddStringToObject(root, "title", t->title);
			cJSON_AddStringToObject(root, "text", t->body);
			out->body = cJSON_PrintUnformatted(root);
			cJSON_Delete(root);
			root = NULL;
		}
		out->url = strdup(ch->url);
		if (!out->body || !out->url) {
			notify_request_free(out);
			return -ENOMEM;
		}
		out->body_len = strlen(out->body);
		rc = add_header(out, "Content-Type: application/json");
		if (!rc && ch->secret) {
			char sig[80], line[112];
			rc = notify_sign_webhook(ch->secret, out->body, out->body_len, sig, sizeof sig);
			snprintf(line, sizeof line, "X-Gridgw-Signature: %s", sig);
			if (!rc)
				rc = add_header(out, line);
		}
		if (rc)
			notify_request_free(out);
		return rc;
	}
	case NOTIFY_WECOM:
		root = wecom_body(ch, t);
		out->url = strdup(ch->url);
		rc = out->url ? 0 : -ENOMEM;
		break;
	case NOTIFY_DINGTALK:
		root = dingtalk_body(ch, t);
		rc = dingtalk_url(ch, now_ms, out);
		break;
	case NOTIFY_FEISHU:
		root = feishu_body(ch, t, now_ms);
		out->url = strdup(ch->url);
		rc = out->url ? 0 : -ENOMEM;
		break;
	default:
		return -EINVAL;
	}
	if (!rc && root) {
		out->body = cJSON_PrintUnformatted(root);
		rc = out->body ? add_header(out, "Content-Type: application/json; charset=utf-8") : -ENOMEM;
		if (!rc)
			out->body_len = strlen(out->body);
	} else if (!rc) {
		rc = -ENOMEM;
	}
	cJSON_Delete(root);
	if (rc)
		notify_request_free(out);
	return rc;
}

/* The robot APIs answer 200 with an error code in the JSON. */
static enum notify_verdict robot_code(enum notify_channel_type type, long code, const char *msg, char *error,
				      size_t errlen)
{
	if (code == 0)
		return NOTIFY_OK;
	snprintf(error, errlen, "%s error %ld%s%.120s", notify_type_name(type), code, msg && *msg ? ": " : "",
		 msg ? msg : "");
	switch (type) {
	case NOTIFY_WECOM:
		if (code == 45009)
			return NOTIFY_RATE_LIMITED;
		if (code == -1) /* "system busy" */
			return NOTIFY_RETRY;
		return NOTIFY_PERMANENT; /* 93000 invalid key, 40058 bad body, … */
	case NOTIFY_DINGTALK:
		if (code == 130101 || code == 130102)
			return NOTIFY_RATE_LIMITED;
		if (code == -1)
			return NOTIFY_RETRY;
		return NOTIFY_PERMANENT; /* 310000 sign/keyword/IP refused, 300001 token, … */
	case NOTIFY_FEISHU:
		if (code == 11232)
			return NOTIFY_RATE_LIMITED;
		return NOTIFY_PERMANENT; /* 19021 bad signature, 19024 keyword, 9499 bad request, … */
	default:
		return NOTIFY_PERMANENT;
	}
}

enum notify_verdict notify_classify(enum notify_channel_type type, const char *transport_error, long status,
				    const char *body, size_t len, char *error, size_t errlen)
{
	error[0] = '\0';
	if (type == NOTIFY_EMAIL) {
		if (status >= 500 && status < 600) {
			snprintf(error, errlen, "SMTP %ld%s%.160s", status, transport_error ? ": " : "",
				 transport_error ? transport_error : "");
			return NOTIFY_PERMANENT; /* 535 bad login, 550 mailbox refused, … */
		}
		if (transport_error || status < 200 || status >= 300) {
			snprintf(error, errlen, "SMTP %ld: %.160s", status, transport_error ? transport_error : "unexpected answer");
			return NOTIFY_RETRY;
		}
		return NOTIFY_OK;
	}
	if (transport_error) {
		snprintf(error, errlen, "%.180s", transport_error);
		return NOTIFY_RETRY;
	}
	if (status == 429) {
		snprintf(error, errlen, "HTTP 429 too many requests");
		return NOTIFY_RATE_LIMITED;
	}
	if (status >= 500 || status == 408 || status < 200) {
		snprintf(error, errlen, "HTTP %ld", status);
		return NOTIFY_RETRY;
	}
	if (status >= 300) {
		snprintf(error, errlen, "HTTP %ld", status);
		/* Redirects are not followed (a moved robot URL is a config error). */
		return NOTIFY_PERMANENT;
	}
	if (type == NOTIFY_WEBHOOK)
		return NOTIFY_OK;
	const char *end = NULL;
	cJSON *root = body && len ? cJSON_ParseWithLengthOpts(body, len, &end, 0) : NULL;
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		snprintf(error, errlen, "HTTP %ld with an answer that is not JSON", status);
		return NOTIFY_RETRY;
	}
	const char *codekey = type == NOTIFY_FEISHU ? "code" : "errcode";
	const char *msgkey = type == NOTIFY_FEISHU ? "msg" : "errmsg";
	cJSON *code = cJSON_GetObjectItemCaseSensitive(root, codekey);
	if (!code && type == NOTIFY_FEISHU) /* the older Feishu answer */
		code = cJSON_GetObjectItemCaseSensitive(root, "StatusCode");
	cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, msgkey);
	enum notify_verdict v;
	if (!cJSON_IsNumber(code)) {
		snprintf(error, errlen, "HTTP %ld without \"%s\" in the answer", status, codekey);
		v = NOTIFY_RETRY;
	} else {
		v = robot_code(type, (long)code->valuedouble, cJSON_IsString(msg) ? msg->valuestring : NULL, error, errlen);
	}
	cJSON_Delete(root);
	return v;
}
