/* notify_thread — the sender: one thread, one libcurl multi handle, all
 * channels. The core hands notifications in through a small inbox (mutex +
 * curl_multi_wakeup); each channel keeps its waiting notifications, at most
 * one request in flight, and its pace (notify_pace.c). When a channel may
 * send, everything it holds goes out as one message — a single notification
 * alone, several as a digest, most severe first — so a fire alarm is never
 * queued behind battery alarms and nothing is dropped for being over the
 * rate. Webhooks carry one event each (machines want the event itself).
 *
 * Outcomes: delivered → a result with ok; transport errors and throttles →
 * kept and retried after a backoff (counted in `errors`); an answer no retry
 * can change → the channel stops (logged once), every notification it holds
 * is reported failed with stopped=true, and later ones are refused the same
 * way until the sender is restarted by a reload. The core keeps those jobs
 * pending in the store, so a fixed key delivers them. */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

/* libcurl is loaded when the first sender starts, not linked: linking it
 * (with librtmp, gnutls, p11-kit, krb5, ldap behind it) costs every gridgw
 * process 2-4 MB of touched library pages and gnutls's start-up work, also
 * when no channel is configured (docs/benchmarks.md, issue #12). The
 * functions are called through this table; the macros below keep the call
 * sites as libcurl's documentation writes them. The soname is libcurl's ABI
 * (4 since 2006). */
#define CURL_SONAME "libcurl.so.4"
#define CURL_FNS(X) X(global_init) X(easy_strerror) X(easy_init) X(easy_setopt) X(easy_getinfo) \
	X(easy_cleanup) X(slist_append) X(slist_free_all) X(multi_init) X(multi_cleanup) \
	X(multi_add_handle) X(multi_remove_handle) X(multi_perform) X(multi_poll) \
	X(multi_info_read) X(multi_wakeup)
#define CURL_FN_PTR(n) __typeof__(curl_##n) *n;
static struct {
	CURL_FNS(CURL_FN_PTR)
} lc;
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init lc.global_init
#define curl_easy_strerror lc.easy_strerror
#define curl_easy_init lc.easy_init
#define curl_easy_setopt lc.easy_setopt
#define curl_easy_getinfo lc.easy_getinfo
#define curl_easy_cleanup lc.easy_cleanup
#define curl_slist_append lc.slist_append
#define curl_slist_free_all lc.slist_free_all
#define curl_multi_init lc.multi_init
#define curl_multi_cleanup lc.multi_cleanup
#define curl_multi_add_handle lc.multi_add_handle
#define curl_multi_remove_handle lc.multi_remove_handle
#define curl_multi_perform lc.multi_perform
#define curl_multi_poll lc.multi_poll
#define curl_multi_info_read lc.multi_info_read
#define curl_multi_wakeup lc.multi_wakeup

#include "common/dynlib.h"
#include "common/log.h"
#include "gateway/notify/notify.h"
#include "gateway/notify/notify_priv.h"
#include "common/queue.h"
#include "common/timeutil.h"

#define RESPONSE_MAX 8192   /* we keep at most this much of an answer */
#define INBOX_MAX 100000    /* notifications waiting to be taken by the thread */

struct chan {
	const struct notify_channel_config *cfg;
	struct notify_pace pace;
	struct notify_item *items;   /* waiting, owned */
	size_t n, cap;
	bool busy;
	bool stopped;
};

struct xfer {
	struct notify_sender *s;
	int ch;
	CURL *easy;
	struct curl_slist *hdrs, *rcpt;
	struct notify_request req;
	size_t read_off;
	char *resp;
	size_t resp_len;
	char errbuf[CURL_ERROR_SIZE];
	struct notify_item *items;   /* what this request carries, owned */
	size_t n_items;
	bool is_test;
	uint64_t token;
	struct xfer *prev, *next;    /* the sender's transfers in flight */
};

struct inbox_entry {
	int ch;
	bool test;
	uint64_t token;
	struct notify_item it;
};

struct notify_sender {
	const struct notify_config *cfg;
	struct queue *q;
	CURLM *multi;
	pthread_t thread;
	pthread_mutex_t mu;          /* guards inbox, stats, stop */
	struct inbox_entry *inbox;
	size_t n_inbox, cap_inbox;
	struct notify_channel_stats *stats;
	bool stop;
	/* thread only */
	struct chan *chans;
	int n_chans;
	struct xfer *active;
};

/* libcurl is loaded when the first sender starts. A failed load is not
 * remembered: once libcurl4 is installed, a reload starts the sender. */
static pthread_mutex_t curl_load_mu = PTHREAD_MUTEX_INITIALIZER;
static bool curl_loaded;          /* kept for the process's life once loaded */
#define CURL_FN_SYM(n) { "curl_" #n, (void **)&lc.n },
static const struct dynlib_sym curl_syms[] = { CURL_FNS(CURL_FN_SYM) };
#undef CURL_FN_SYM
static int curl_load(char *err, size_t errlen)
{
	pthread_mutex_lock(&curl_load_mu);
	if (curl_loaded)
		goto out;
	void *h = dynlib_open("libcurl", CURL_SONAME, "libcurl4", curl_syms, sizeof curl_syms / sizeof curl_syms[0],
			      err, errlen);
	if (h == NULL)
		goto out;
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(rc));
		dlclose(h);
		goto out;
	}
	curl_loaded = true;
out:
	pthread_mutex_unlock(&curl_load_mu);
	return curl_loaded ? 0 : -1;
}

/* ---- results to the core ---- */

static struct notify_result *result_new(const struct chan *c, size_t n_jobs)
{
	struct notify_result *r = calloc(1, sizeof *r + n_jobs * sizeof r->jobs[0]);
	if (!r)
		return NULL;
	snprintf(r->channel, sizeof r->channel, "%s", c->cfg->name);
	r->ts_ms = time_wall_ms();
	r->n_jobs = n_jobs;
	return r;
}

static void result_add_items(struct notify_result *r, size_t at, const struct notify_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		r->jobs[at + i].job = items[i].job;
		snprintf(r->jobs[at + i].incident, sizeof r->jobs[0].incident, "%s", items[i].incident);
		r->jobs[at + i].route = items[i].route;
		r->jobs[at + i].step = items[i].step;
	}
}

static void post_result(struct notify_sender *s, struct notify_result *r)
{
	if (!r) {
		log_error("notify", "out of memory: a notification result is lost (the job stays pending and is retried after a restart)");
		return;
	}
	struct core_msg m = { .type = MSG_NOTIFY_RESULT };
	m.u.blob.data = (char *)r;
	m.u.blob.len = sizeof *r + r->n_jobs * sizeof r->jobs[0];
	/* Never block: the core may be joining this thread (stop, reload) while
	 * the queue is above its high-water mark. A full queue is retried until
	 * the sender is told to stop; then the jobs stay pending in the store. */
	for (;;) {
		if (queue_push_nowait(s->q, &m) == 0)
			return;
		pthread_mutex_lock(&s->mu);
		bool stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	free(r);
}

/* ---- channel queues ---- */

static int chan_push(struct chan *c, struct notify_item *it)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct notify_item *ni = realloc(c->items, cap * sizeof *ni);
		if (!ni)
			return -ENOMEM;
		c->items = ni;
		c->cap = cap;
	}
	c->items[c->n++] = *it;
	return 0;
}

static int item_cmp(const void *a, const void *b)
{
	const struct notify_item *x = a, *y = b;
	return notify_item_cmp(&x, &y);
}

static void set_error(struct notify_sender *s, int ch, const char *error)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->stats[ch].last_error, sizeof s->stats[ch].last_error, "%s", error);
	s->stats[ch].last_error_ms = time_wall_ms();
	pthread_mutex_unlock(&s->mu);
}

/* A stopped channel answers at once: failed, stopped. */
static void refuse_items(struct notify_sender *s, struct chan *c, int ch, struct notify_item *items, size_t n,
			 const char *why)
{
	if (n == 0)
		return;
	struct notify_result *r = result_new(c, n);
	if (r) {
		r->stopped = true;
		snprintf(r->error, sizeof r->error, "%s", why);
		result_add_items(r, 0, items, n);
	}
	for (size_t i = 0; i < n; i++)
		notify_item_free(&items[i]);
	pthread_mutex_lock(&s->mu);
	s->stats[ch].failed += n;
	pthread_mutex_unlock(&s->mu);
	post_result(s, r);
}

/* ---- transfers ---- */

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	size_t room = RESPONSE_MAX - x->resp_len;
	size_t take = n < room ? n : room;
	if (take) {
		char *nr = realloc(x->resp, x->resp_len + take + 1);
		if (!nr)
			return 0; /* aborts the transfer: retried */
		x->resp = nr;
		memcpy(x->resp + x->resp_len, data, take);
		x->resp_len += take;
		x->resp[x->resp_len] = '\0';
	}
	return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t room = size * nmemb, left = x->req.body_len - x->read_off;
	size_t take = left < room ? left : room;
	memcpy(buf, x->req.body + x->read_off, take);
	x->read_off += take;
	return take;
}

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	if (x->prev || x->next || x->s->active == x) {
		if (x->prev)
			x->prev->next = x->next;
		else
			x->s->active = x->next;
		if (x->next)
			x->next->prev = x->prev;
	}
	if (x->easy) {
		curl_multi_remove_handle(x->s->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	curl_slist_free_all(x->rcpt);
	notify_request_free(&x->req);
	free(x->resp);
	for (size_t i = 0; i < x->n_items; i++)
		notify_item_free(&x->items[i]);
	free(x->items);
	free(x);
}

static int setup_easy(struct xfer *x, const struct notify_channel_config *cfg)
{
	CURL *e = x->easy;
	bool mail = cfg->type == NOTIFY_EMAIL;
	int rc = 0;
#define SET(opt, val) rc |= (int)curl_easy_setopt(e, opt, val)
	SET(CURLOPT_URL, x->req.url);
	SET(CURLOPT_PRIVATE, x);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_TIMEOUT_MS, (long)(cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000));
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(cfg->timeout_ms > 0 && cfg->timeout_ms < 5000 ? cfg->timeout_ms : 5000));
	SET(CURLOPT_PROTOCOLS_STR, mail ? "smtp,smtps" : "http,https");
	SET(CURLOPT_SSL_VERIFYPEER, cfg->verify ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, cfg->verify ? 2L : 0L);
	if (cfg->ca)
		SET(CURLOPT_CAINFO, cfg->ca);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, x);
	if (mail) {
		SET(CURLOPT_MAIL_FROM, cfg->from);
		for (int i = 0; i < cfg->n_to; i++) {
			struct curl_slist *n = curl_slist_append(x->rcpt, cfg->to[i]);
			if (!n)
				return -ENOMEM;
			x->rcpt = n;
		}
		SET(CURLOPT_MAIL_RCPT, x->rcpt);
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_READFUNCTION, on_read);
		SET(CURLOPT_READDATA, x);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->req.body_len);
		SET(CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
		if (cfg->username)
			SET(CURLOPT_USERNAME, cfg->username);
		if (cfg->password)
			SET(CURLOPT_PASSWORD, cfg->password);
	} else {
		SET(CURLOPT_USERAGENT, "gridgw/" GRIDGW_VERSION);
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, x->req.body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->req.body_len);
		SET(CURLOPT_FOLLOWLOCATION, 0L);
		for (int i = 0; i < x->req.n_headers; i++) {
			struct curl_slist *n = curl_slist_append(x->hdrs, x->req.headers[i]);
			if (!n)
				return -ENOMEM;
			x->hdrs = n;
		}
		/* No "Expect: 100-continue" round trip for a few KB. */
		struct curl_slist *n = curl_slist_append(x->hdrs, "Expect:");
		if (!n)
			return -ENOMEM;
		x->hdrs = n;
		SET(CURLOPT_HTTPHEADER, x->hdrs);
	}
#undef SET
	return rc ? -EINVAL : 0;
}

static void render_ctx(const struct notify_sender *s, const struct notify_channel_config *cfg,
		       struct notify_render_ctx *rc)
{
	memset(rc, 0, sizeof *rc);
	rc->lang = notify_lang_of(s->cfg->language);
	rc->console_url = s->cfg->console_url;
	rc->type = cfg->type;
	rc->format = notify_channel_format(cfg);
	rc->limit = notify_channel_limit(cfg);
	rc->mention = (const char *const *)cfg->mention;
	rc->n_mention = cfg->n_mention;
}

/* Starts a transfer for x (its items or test already set). On failure the
 * caller keeps x->items. */
static int xfer_start(struct notify_sender *s, struct xfer *x)
{
	const struct notify_channel_config *cfg = s->chans[x->ch].cfg;
	struct notify_render_ctx rc;
	render_ctx(s, cfg, &rc);
	struct notify_text t = { 0 };
	int err;
	if (x->is_test) {
		struct notify_item it = { .severity = 4, .ts_ms = time_wall_ms() };
		snprintf(it.type, sizeof it.type, "notify.test");
		snprintf(it.event, sizeof it.event, "raised");
		snprintf(it.device, sizeof it.device, "%s", cfg->name);
		snprintf(it.message, sizeof it.message, "%s",
			 rc.lang == NOTIFY_LANG_EN ? "Test message from the gridgw gateway: this channel works."
						   : "网关通知测试：此渠道可以收到告警消息。");
		err = notify_render_one(&rc, &it, &t);
	} else {
		size_t used = 0;
		const struct notify_item **ptrs = malloc(x->n_items * sizeof *ptrs);
		if (!ptrs)
			return -ENOMEM;
		for (size_t i = 0; i < x->n_items; i++)
			ptrs[i] = &x->items[i];
		err = notify_render_digest(&rc, ptrs, x->n_items, &used, &t);
		free(ptrs);
		if (!err && used < x->n_items) {
			/* What did not fit goes back to the channel for the next message. */
			struct chan *c = &s->chans[x->ch];
			for (size_t i = used; i < x->n_items; i++)
				if (chan_push(c, &x->items[i]) != 0)
					err = -ENOMEM;
			x->n_items = used;
		}
	}
	if (err)
		return err;
	err = notify_build_request(cfg, &t, x->is_test ? NULL : x->items[0].event_json, time_wall_ms(), &x->req);
	notify_text_free(&t);
	if (err)
		return err;
	x->easy = curl_easy_init();
	if (!x->easy)
		return -ENOMEM;
	err = setup_easy(x, cfg);
	if (!err && curl_multi_add_handle(s->multi, x->easy) != CURLM_OK)
		err = -EIO;
	if (!err) {
		x->next = s->active;
		if (s->active)
			s->active->prev = x;
		s->active = x;
	}
	return err;
}

/* Takes what channel ch should send now into a new transfer. */
static void chan_send(struct notify_sender *s, int ch)
{
	struct chan *c = &s->chans[ch];
	struct xfer *x = calloc(1, sizeof *x);
	if (!x)
		return;
	x->s = s;
	x->ch = ch;
	qsort(c->items, c->n, sizeof c->items[0], item_cmp);
	/* Webhooks: one event per request; the others take everything waiting
	 * (the renderer hands back what does not fit). */
	size_t take = c->cfg->type == NOTIFY_WEBHOOK ? 1 : c->n;
	x->items = malloc(take * sizeof *x->items);
	if (!x->items) {
		free(x);
		return;
	}
	memcpy(x->items, c->items, take * sizeof *x->items);
	x->n_items = take;
	memmove(c->items, c->items + take, (c->n - take) * sizeof *c->items);
	c->n -= take;
	int err = xfer_start(s, x);
	if (err) {
		char why[128];
		snprintf(why, sizeof why, "cannot build the request: %s", strerror(-err));
		log_error("notify", "channel %s: %s", c->cfg->name, why);
		set_error(s, ch, why);
		for (size_t i = 0; i < x->n_items; i++)
			if (chan_push(c, &x->items[i]) != 0)
				notify_item_free(&x->items[i]);
		x->n_items = 0;
		notify_pace_result(&c->pace, NOTIFY_RETRY, 0, time_mono_ms());
		xfer_free(x);
		return;
	}
	c->busy = true;
}

static void test_send(struct notify_sender *s, int ch, uint64_t token)
{
	struct chan *c = &s->chans[ch];
	struct xfer *x = calloc(1, sizeof *x);
	int err = x ? 0 : -ENOMEM;
	if (x) {
		x->s = s;
		x->ch = ch;
		x->is_test = true;
		x->token = token;
		err = xfer_start(s, x);
	}
	if (err) {
		struct notify_result *r = result_new(c, 0);
		if (r) {
			r->token = token;
			snprintf(r->error, sizeof r->error, "cannot build the request: %s", strerror(-err));
		}
		post_result(s, r);
		xfer_free(x);
	}
}

static void stop_channel(struct notify_sender *s, int ch, const char *why)
{
	struct chan *c = &s->chans[ch];
	c->stopped = true;
	log_error("notify", "channel %s stopped: %s; its notifications wait in the store until the configuration is "
		  "fixed and reloaded", c->cfg->name, why);
	pthread_mutex_lock(&s->mu);
	s->stats[ch].stopped = true;
	pthread_mutex_unlock(&s->mu);
	refuse_items(s, c, ch, c->items, c->n, why);
	c->n = 0;
}

static void xfer_done(struct notify_sender *s, struct xfer *x, CURLcode cc)
{
	struct chan *c = &s->chans[x->ch];
	long status = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	const char *terr = NULL;
	char tbuf[CURL_ERROR_SIZE + 64];
	if (cc != CURLE_OK) {
		snprintf(tbuf, sizeof tbuf, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
		terr = tbuf;
	}
	char error[256];
	enum notify_verdict v = notify_classify(c->cfg->type, terr, status, x->resp, x->resp_len, error, sizeof error);
	int64_t now = time_mono_ms();
	if (x->is_test) {
		struct notify_result *r = result_new(c, 0);
		if (r) {
			r->token = x->token;
			r->ok = v == NOTIFY_OK;
			r->status = status;
			snprintf(r->error, sizeof r->error, "%s", error);
			snprintf(r->answer, sizeof r->answer, "%s", x->resp ? x->resp : "");
		}
		notify_pace_sent(&c->pace, now);
		post_result(s, r);
		return;
	}
	c->busy = false;
	notify_pace_sent(&c->pace, now);
	notify_pace_result(&c->pace, v, notify_rate_limit_pause_ms(c->cfg->type), now);
	if (v == NOTIFY_OK) {
		struct notify_result *r = result_new(c, x->n_items);
		if (r) {
			r->ok = true;
			r->status = status;
			result_add_items(r, 0, x->items, x->n_items);
		}
		pthread_mutex_lock(&s->mu);
		s->stats[x->ch].sent += x->n_items;
		s->stats[x->ch].messages++;
		s->stats[x->ch].last_ok_ms = time_wall_ms();
		pthread_mutex_unlock(&s->mu);
		post_result(s, r);
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->stats[x->ch].errors++;
	pthread_mutex_unlock(&s->mu);
	set_error(s, x->ch, error);
	if (v == NOTIFY_PERMANENT) {
		refuse_items(s, c, x->ch, x->items, x->n_items, error);
		x->n_items = 0;
		stop_channel(s, x->ch, error);
		return;
	}
	log_warn("notify", "channel %s: %s; retrying %s", c->cfg->name, error,
		 v == NOTIFY_RATE_LIMITED ? "after the API's throttle time" : "with backoff");
	for (size_t i = 0; i < x->n_items; i++)
		if (chan_push(c, &x->items[i]) != 0) {
			log_error("notify", "out of memory: a notification waits in the store until a restart");
			notify_item_free(&x->items[i]);
		}
	x->n_items = 0;
}

/* ---- the loop ---- */

static void take_inbox(struct notify_sender *s)
{
	pthread_mutex_lock(&s->mu);
	struct inbox_entry *in = s->inbox;
	size_t n = s->n_inbox;
	s->inbox = NULL;
	s->n_inbox = s->cap_inbox = 0;
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		struct chan *c = &s->chans[in[i].ch];
		if (in[i].test) {
			test_send(s, in[i].ch, in[i].token);
		} else if (c->stopped) {
			pthread_mutex_lock(&s->mu);
			char why[256];
			snprintf(why, sizeof why, "channel stopped: %.200s", s->stats[in[i].ch].last_error);
			pthread_mutex_unlock(&s->mu);
			refuse_items(s, c, in[i].ch, &in[i].it, 1, why);
		} else if (chan_push(c, &in[i].it) != 0) {
			log_error("notify", "out of memory: a notification waits in the store until a restart");
			notify_item_free(&in[i].it);
		}
	}
	free(in);
}

static void update_queued(struct notify_sender *s, int64_t now)
{
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->n_chans; i++) {
		s->stats[i].queued = (int)s->chans[i].n;
		s->stats[i].used = notify_pace_used(&s->chans[i].pace, now);
	}
	for (size_t i = 0; i < s->n_inbox; i++)
		if (!s->inbox[i].test)
			s->stats[s->inbox[i].ch].queued++;
	pthread_mutex_unlock(&s->mu);
}

static void *sender_main(void *arg)
{
	struct notify_sender *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		bool stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		take_inbox(s);
		int64_t now = time_mono_ms();
		int64_t wait = 1000;
		for (int i = 0; i < s->n_chans; i++) {
			struct chan *c = &s->chans[i];
			if (c->busy || c->stopped || c->n == 0)
				continue;
			int64_t t = notify_pace_next(&c->pace, now);
			if (t <= now)
				chan_send(s, i);
			else if (t - now < wait)
				wait = t - now;
		}
		int running = 0;
		curl_multi_perform(s->multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct xfer *x = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			CURLcode cc = msg->data.result;
			xfer_done(s, x, cc);
			xfer_free(x);
			wait = 0; /* the channel may send what waited meanwhile */
		}
		update_queued(s, time_mono_ms());
		if (wait > 0)
			curl_multi_poll(s->multi, NULL, 0, (int)wait, NULL);
	}
	return NULL;
}

struct notify_sender *notify_sender_start(const struct notify_config *cfg, struct queue *q, char *err, size_t errlen)
{
	if (curl_load(err, errlen) != 0)
		return NULL;
	struct notify_sender *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = cfg;
	s->q = q;
	s->n_chans = cfg->n_channels;
	s->chans = calloc((size_t)cfg->n_channels + 1, sizeof *s->chans);
	s->stats = calloc((size_t)cfg->n_channels + 1, sizeof *s->stats);
	s->multi = curl_multi_init();
	pthread_mutex_init(&s->mu, NULL);
	if (!s->chans || !s->stats || !s->multi) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (int i = 0; i < cfg->n_channels; i++) {
		const struct notify_channel_config *ch = &cfg->channels[i];
		s->chans[i].cfg = ch;
		if (!ch->verify)
			log_warn("notify", "channel %s: verify = false: the server's certificate chain and hostname are NOT checked",
				 ch->name);
		int rate = ch->rate > 0 ? ch->rate : notify_default_rate(ch->type);
		int64_t win = ch->rate_window_ms > 0 ? ch->rate_window_ms : 60000;
		if (notify_pace_init(&s->chans[i].pace, rate, win) != 0) {
			snprintf(err, errlen, "channel %s: bad rate", ch->name);
			goto fail;
		}
		if (ch->type == NOTIFY_FEISHU)
			s->chans[i].pace.min_gap_ms = 200; /* Feishu: also at most 5 per second */
		s->stats[i].rate = rate;
		s->stats[i].window_ms = win;
	}
	if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
		snprintf(err, errlen, "cannot start the notify thread");
		goto fail;
	}
	return s;
fail:
	for (int i = 0; s->chans && i < s->n_chans; i++)
		notify_pace_free(&s->chans[i].pace);
	free(s->chans);
	free(s->stats);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return NULL;
}

void notify_sender_stop(struct notify_sender *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	curl_multi_wakeup(s->multi);
	pthread_join(s->thread, NULL);
	/* Transfers still in flight: abandoned (their jobs stay pending). */
	while (s->active)
		xfer_free(s->active);
	for (int i = 0; i < s->n_chans; i++) {
		for (size_t k = 0; k < s->chans[i].n; k++)
			notify_item_free(&s->chans[i].items[k]);
		free(s->chans[i].items);
		notify_pace_free(&s->chans[i].pace);
	}
	for (size_t i = 0; i < s->n_inbox; i++)
		notify_item_free(&s->inbox[i].it);
	free(s->inbox);
	free(s->chans);
	free(s->stats);
	curl_multi_cleanup(s->multi);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int inbox_add(struct notify_sender *s, const struct inbox_entry *e)
{
	pthread_mutex_lock(&s->mu);
	int rc = 0;
	if (s->n_inbox >= INBOX_MAX) {
		rc = -ENOSPC;
	} else if (s->n_inbox == s->cap_inbox) {
		size_t cap = s->cap_inbox ? s->cap_inbox * 2 : 64;
		struct inbox_entry *ni = realloc(s->inbox, cap * sizeof *ni);
		if (!ni)
			rc = -ENOMEM;
		else {
			s->inbox = ni;
			s->cap_inbox = cap;
		}
	}
	if (!rc)
		s->inbox[s->n_inbox++] = *e;
	pthread_mutex_unlock(&s->mu);
	if (!rc)
		curl_multi_wakeup(s->multi);
	return rc;
}

int notify_sender_submit(struct notify_sender *s, int ch, struct notify_item *it)
{
	if (ch < 0 || ch >= s->n_chans)
		return -EINVAL;
	struct inbox_entry e = { .ch = ch, .it = *it };
	int rc = inbox_add(s, &e);
	if (rc == 0) {
		it->template_text = NULL; /* moved */
		it->event_json = NULL;
	}
	return rc;
}

int notify_sender_test(struct notify_sender *s, int ch, uint64_t token)
{
	if (ch < 0 || ch >= s->n_chans)
		return -EINVAL;
	struct inbox_entry e = { .ch = ch, .test = true, .token = token };
	return inbox_add(s, &e);
}

void notify_sender_stats(struct notify_sender *s, int ch, struct notify_channel_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!s || ch < 0 || ch >= s->n_chans)
		return;
	pthread_mutex_lock(&s->mu);
	*out = s->stats[ch];
	pthread_mutex_unlock(&s->mu);
}
