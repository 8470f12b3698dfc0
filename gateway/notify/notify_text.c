/* notify_text — what people on site read: severity and type labels in
 * Chinese (default) and English, the default message templates per channel
 * type, `{placeholder}` expansion for route templates, digests, and cutting
 * to each API's size limit without ever splitting a UTF-8 character.
 *
 * A template line in which every placeholder expanded to nothing is left
 * out, so "位置：{location}" disappears for a device without a location and
 * "[查看事件]({link})" when no console_url is set. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/notify/notify_priv.h"

void notify_item_free(struct notify_item *it)
{
	if (!it)
		return;
	free(it->template_text);
	free(it->event_json);
	it->template_text = NULL;
	it->event_json = NULL;
}

enum notify_lang notify_lang_of(const char *language)
{
	return language && (strcmp(language, "en") == 0 || strncmp(language, "en-", 3) == 0) ? NOTIFY_LANG_EN
											 : NOTIFY_LANG_ZH;
}

const char *notify_severity_label(enum notify_lang l, int severity)
{
	static const char *zh[] = { "紧急", "重要", "一般", "提示" };
	static const char *en[] = { "Critical", "Major", "Minor", "Info" };
	int i = severity < 1 ? 0 : severity > 4 ? 3 : severity - 1;
	return l == NOTIFY_LANG_EN ? en[i] : zh[i];
}

static const struct {
	const char *type, *zh, *en;
} type_labels[] = {
	{ "fire.smoke", "烟感报警", "Smoke alarm" },
	{ "fire.heat", "温感报警", "Heat alarm" },
	{ "fire.confirmed", "确认火警", "Confirmed fire" },
	{ "manhole.tilt", "井盖倾斜", "Manhole cover tilted" },
	{ "manhole.open", "井盖开启", "Manhole cover open" },
	{ "manhole.water", "井下积水", "Water in manhole" },
	{ "manhole.gas", "可燃气体", "Combustible gas" },
	{ "elevator.ebike", "电动车进电梯", "E-bike in elevator" },
	{ "device.offline", "设备离线", "Device offline" },
	{ "device.battery_low", "电量低", "Low battery" },
	{ "device.fault", "设备故障", "Device fault" },
	{ "device.tamper", "设备被拆", "Device tampered with" },
	{ "gateway.uplink_down", "平台连接中断", "Uplink to the platform down" },
	{ "gateway.storage", "网关存储故障", "Gateway storage failure" },
	{ "gateway.notify", "通知渠道故障", "Notification channel failure" },
	{ "notify.test", "通知测试", "Notification test" },
};

const char *notify_type_label(enum notify_lang l, const char *type)
{
	for (size_t i = 0; i < sizeof type_labels / sizeof type_labels[0]; i++)
		if (strcmp(type_labels[i].type, type) == 0)
			return l == NOTIFY_LANG_EN ? type_labels[i].en : type_labels[i].zh;
	return NULL;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned min;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0) {
		len = 2;
		min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		len = 3;
		min = 0x800;
	} else if ((s[0] & 0xF8) == 0xF0) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	unsigned cp = s[0] & (0x7F >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

bool notify_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_seq(p + i, len - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

size_t notify_utf8_prefix(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	while (i < n) {
		size_t k = utf8_seq(p + i, n - i);
		if (!k)
			k = 1; /* invalid byte: counts as one (callers sanitize first) */
		if (i + k > max)
			break;
		i += k;
	}
	return i;
}

void notify_cut(char *s, size_t max)
{
	static const char ell[] = "…"; /* 3 bytes */
	if (strlen(s) <= max)
		return;
	size_t room = max >= 3 ? max - 3 : 0;
	size_t k = notify_utf8_prefix(s, room);
	if (max >= 3) {
		memcpy(s + k, ell, 3);
		s[k + 3] = '\0';
	} else {
		s[k] = '\0';
	}
}

/* Copies src into a fixed field, replacing invalid UTF-8 bytes by '?' and
 * never cutting a character. */
static void copy_clean(char *dst, size_t size, const char *src)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)(src ? src : "");
	size_t n = strlen((const char *)p);
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		const unsigned char *from = p + i;
		size_t take = k;
		if (!k) {
			from = (const unsigned char *)"?";
			take = 1;
			k = 1;
		}
		if (o + take >= size)
			break;
		memcpy(dst + o, from, take);
		o += take;
		i += k;
	}
	dst[o] = '\0';
}

/* ---- a growable string ---- */

struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- fields ---- */

void notify_format_local(int64_t wall_ms, char *buf, size_t len)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	if (!localtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "?");
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void format_location(enum notify_lang l, const struct notify_item *it, struct sbuf *b)
{
	if (l == NOTIFY_LANG_EN) {
		const char *sep = "";
		if (it->building[0]) {
			sb_fmt(b, "Building %s", it->building);
			sep = ", ";
		}
		if (it->entrance[0]) {
			sb_fmt(b, "%sEntrance %s", sep, it->entrance);
			sep = ", ";
		}
		if (it->has_floor) {
			sb_fmt(b, "%sFloor %d", sep, it->floor);
			sep = ", ";
		}
		if (it->room[0]) {
			sb_fmt(b, "%sRoom %s", sep, it->room);
			sep = ", ";
		}
		if (it->place[0])
			sb_fmt(b, "%s%s", sep, it->place);
		return;
	}
	/* 5号楼2单元7层701室 — the way addresses are written on site. */
	if (it->building[0])
		sb_fmt(b, all_digits(it->building) ? "%s号楼" : "%s", it->building);
	if (it->entrance[0])
		sb_fmt(b, all_digits(it->entrance) ? "%s单元" : "%s", it->entrance);
	if (it->has_floor)
		sb_fmt(b, it->floor < 0 ? "地下%d层" : "%d层", it->floor < 0 ? -it->floor : it->floor);
	if (it->room[0])
		sb_fmt(b, all_digits(it->room) ? "%s室" : "%s", it->room);
	if (it->place[0])
		sb_fmt(b, "%s%s", b->len ? " " : "", it->place);
}

static const char *type_text(enum notify_lang l, const struct notify_item *it)
{
	const char *t = notify_type_label(l, it->type);
	return t ? t : it->type;
}

static void format_after(int64_t ms, enum notify_lang l, char *buf, size_t len)
{
	if (ms % 3600000 == 0 && ms >= 3600000)
		snprintf(buf, len, l == NOTIFY_LANG_EN ? "%lldh" : "%lld小时", (long long)(ms / 3600000));
	else if (ms % 60000 == 0 && ms >= 60000)
		snprintf(buf, len, l == NOTIFY_LANG_EN ? "%lld min" : "%lld分钟", (long long)(ms / 60000));
	else
		snprintf(buf, len, l == NOTIFY_LANG_EN ? "%lld s" : "%lld秒", (long long)(ms / 1000));
}

/* "（5分钟未确认）" for an escalation step, "（已升级）" for `escalated`. */
static void format_escalation(enum notify_lang l, const struct notify_item *it, char *buf, size_t len)
{
	buf[0] = '\0';
	if (it->step > 0) {
		char after[32];
		format_after(it->after_ms, l, after, sizeof after);
		static const char *zh[] = { "未处理", "未确认", "未受理", "未关闭" };
		static const char *en[] = { "not handled", "not acknowledged", "not accepted", "not closed" };
		int u = (int)it->unless;
		if (u < 0 || u > 3)
			u = 0;
		if (l == NOTIFY_LANG_EN)
			snprintf(buf, len, " (%s after %s)", en[u], after);
		else
			snprintf(buf, len, "（%s%s）", after, zh[u]);
	} else if (strcmp(it->event, "escalated") == 0) {
		snprintf(buf, len, "%s", l == NOTIFY_LANG_EN ? " (escalated)" : "（已升级）");
	}
}

static const char *event_label(enum notify_lang l, const char *ev)
{
	if (strcmp(ev, "cleared") == 0)
		return l == NOTIFY_LANG_EN ? "Cleared" : "已恢复";
	if (strcmp(ev, "escalated") == 0)
		return l == NOTIFY_LANG_EN ? "Escalated" : "升级";
	return l == NOTIFY_LANG_EN ? "Alarm" : "报警";
}

static void format_title(enum notify_lang l, const struct notify_item *it, char *buf, size_t len)
{
	char esc[96];
	format_escalation(l, it, esc, sizeof esc);
	const char *tag = strcmp(it->event, "cleared") == 0 ? event_label(l, "cleared")
			 : strcmp(it->type, "notify.test") == 0 ? (l == NOTIFY_LANG_EN ? "Test" : "测试")
								  : notify_severity_label(l, it->severity);
	if (l == NOTIFY_LANG_EN)
		snprintf(buf, len, "[%s] %.64s%.80s", tag, type_text(l, it), esc);
	else
		snprintf(buf, len, "【%s】%.64s%.80s", tag, type_text(l, it), esc);
	size_t k = notify_utf8_prefix(buf, len - 1);
	buf[k] = '\0';
}

/* The value of one placeholder into b; false for an unknown name. */
static bool expand(const struct notify_render_ctx *rc, const struct notify_item *it, const char *name, size_t n,
		   struct sbuf *b)
{
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
	enum notify_lang l = rc->lang;
	char tmp[192];
	if (IS("title")) {
		format_title(l, it, tmp, sizeof tmp);
		sb_str(b, tmp);
	} else if (IS("severity")) {
		sb_str(b, notify_severity_label(l, it->severity));
	} else if (IS("type")) {
		sb_str(b, type_text(l, it));
	} else if (IS("type_id")) {
		sb_str(b, it->type);
	} else if (IS("event")) {
		sb_str(b, event_label(l, it->event));
	} else if (IS("message")) {
		sb_str(b, it->message);
	} else if (IS("location")) {
		format_location(l, it, b);
	} else if (IS("building")) {
		sb_str(b, it->building);
	} else if (IS("entrance")) {
		sb_str(b, it->entrance);
	} else if (IS("floor")) {
		if (it->has_floor)
			sb_fmt(b, "%d", it->floor);
	} else if (IS("room")) {
		sb_str(b, it->room);
	} else if (IS("place")) {
		sb_str(b, it->place);
	} else if (IS("device")) {
		sb_str(b, it->device);
	} else if (IS("rule")) {
		sb_str(b, it->rule);
	} else if (IS("time")) {
		notify_format_local(it->ts_ms, tmp, sizeof tmp);
		sb_str(b, tmp);
	} else if (IS("incident")) {
		sb_str(b, it->incident);
	} else if (IS("link")) {
		if (rc->console_url && rc->console_url[0] && it->incident[0]) {
			size_t ul = strlen(rc->console_url);
			sb_add(b, rc->console_url, ul && rc->console_url[ul - 1] == '/' ? ul - 1 : ul);
			sb_fmt(b, "/incidents/%s", it->incident);
		}
	} else if (IS("escalation")) {
		format_escalation(l, it, tmp, sizeof tmp);
		sb_str(b, tmp);
	} else {
		return false;
	}
	return true;
#undef IS
}

static const char *const placeholder_names[] = {
	"title", "severity", "type", "type_id", "event", "message", "location", "building", "entrance",
	"floor", "room", "place", "device", "rule", "time", "incident", "link", "escalation",
};

int notify_template_check(const char *tmpl, char *bad, size_t badlen)
{
	for (const char *p = tmpl; (p = strchr(p, '{')) != NULL;) {
		const char *e = strchr(p, '}');
		if (!e) {
			snprintf(bad, badlen, "%s", p);
			return -1;
		}
		size_t n = (size_t)(e - p - 1);
		bool known = false;
		for (size_t i = 0; i < sizeof placeholder_names / sizeof placeholder_names[0]; i++)
			if (strlen(placeholder_names[i]) == n && memcmp(placeholder_names[i], p + 1, n) == 0)
				known = true;
		if (!known) {
			snprintf(bad, badlen, "%.*s", (int)(n < 64 ? n : 64), p + 1);
			return -1;
		}
		p = e + 1;
	}
	if (!notify_utf8_valid(tmpl, strlen(tmpl))) {
		snprintf(bad, badlen, "(invalid UTF-8)");
		return -1;
	}
	return 0;
}

/* Expands tmpl line by line; a line whose placeholders all came out empty
 * is dropped. Unknown names (checked at load) are kept literally. */
static void expand_template(const struct notify_render_ctx *rc, const struct notify_item *it, const char *tmpl,
			    struct sbuf *out)
{
	const char *line = tmpl;
	while (*line) {
		const char *eol = strchr(line, '\n');
		size_t llen = eol ? (size_t)(eol - line) : strlen(line);
		struct sbuf lb = { 0 };
		int n_ph = 0, n_full = 0;
		for (size_t i = 0; i < llen;) {
			const char *close = line[i] == '{' ? memchr(line + i, '}', llen - i) : NULL;
			if (close) {
				size_t before = lb.len;
				size_t nlen = (size_t)(close - line - i - 1);
				if (!expand(rc, it, line + i + 1, nlen, &lb))
					sb_add(&lb, line + i, nlen + 2);
				n_ph++;
				if (lb.len > before)
					n_full++;
				i += nlen + 2;
			} else {
				sb_add(&lb, line + i, 1);
				i++;
			}
		}
		if (n_ph == 0 || n_full > 0) {
			if (out->len && out->s[out->len - 1] != '\n')
				sb_str(out, "\n");
			if (lb.len)
				sb_add(out, lb.s, lb.len);
			else if (!lb.oom)
				sb_str(out, "\n"); /* an empty template line: keep the blank line */
		}
		if (lb.oom)
			out->oom = true;
		free(lb.s);
		line += llen + (eol ? 1 : 0);
	}
}

/* Default templates. Markdown for WeCom and DingTalk (DingTalk needs a blank
 * line for a line break), plain text for Feishu text, cards and e-mail. */
static const char *default_template(const struct notify_render_ctx *rc)
{
	bool en = rc->lang == NOTIFY_LANG_EN;
	if (rc->format == NOTIFY_FMT_MARKDOWN && rc->type == NOTIFY_DINGTALK)
		return en ? "### {title}\n\n**Where:** {location}\n\n**What:** {message}\n\n**Device:** {device}\n\n"
			    "**Time:** {time}\n\n[Open the incident]({link})"
			  : "### {title}\n\n**位置：**{location}\n\n**内容：**{message}\n\n**设备：**{device}\n\n"
			    "**时间：**{time}\n\n[查看事件]({link})";
	if (rc->format == NOTIFY_FMT_MARKDOWN)
		return en ? "**{title}**\n> Where: {location}\n> What: {message}\n> Device: {device}\n> Time: {time}\n"
			    "[Open the incident]({link})"
			  : "**{title}**\n> 位置：{location}\n> 内容：{message}\n> 设备：{device}\n> 时间：{time}\n"
			    "[查看事件]({link})";
	if (rc->format == NOTIFY_FMT_CARD)
		return en ? "**Where:** {location}\n**What:** {message}\n**Device:** {device}\n**Time:** {time}\n"
			    "[Open the incident]({link})"
			  : "**位置：**{location}\n**内容：**{message}\n**设备：**{device}\n**时间：**{time}\n"
			    "[查看事件]({link})";
	return en ? "{title}\nWhere: {location}\nWhat: {message}\nDevice: {device}\nTime: {time}\nOpen: {link}"
		  : "{title}\n位置：{location}\n内容：{message}\n设备：{device}\n时间：{time}\n查看：{link}";
}

/* DingTalk highlights an @ only when "@mobile" is in the text as well. */
static void add_mentions(const struct notify_render_ctx *rc, struct sbuf *b)
{
	if (rc->type != NOTIFY_DINGTALK || rc->n_mention == 0)
		return;
	sb_str(b, rc->format == NOTIFY_FMT_MARKDOWN ? "\n\n" : "\n");
	for (int i = 0; i < rc->n_mention; i++)
		sb_fmt(b, "%s@%s", i ? " " : "", rc->mention[i]);
}

static size_t mention_reserve(const struct notify_render_ctx *rc)
{
	size_t n = 0;
	if (rc->type == NOTIFY_DINGTALK)
		for (int i = 0; i < rc->n_mention; i++)
			n += strlen(rc->mention[i]) + 2;
	return n ? n + 2 : 0;
}

/* Clean copies of the item's free text: the store's strings came from
 * config and devices and may hold anything. */
static void sanitize(const struct notify_item *in, struct notify_item *out)
{
	*out = *in;
	copy_clean(out->message, sizeof out->message, in->message);
	copy_clean(out->device, sizeof out->device, in->device);
	copy_clean(out->building, sizeof out->building, in->building);
	copy_clean(out->entrance, sizeof out->entrance, in->entrance);
	copy_clean(out->room, sizeof out->room, in->room);
	copy_clean(out->place, sizeof out->place, in->place);
	copy_clean(out->type, sizeof out->type, in->type);
	copy_clean(out->rule, sizeof out->rule, in->rule);
}

int notify_render_one(const struct notify_render_ctx *rc, const struct notify_item *in, struct notify_text *out)
{
	struct notify_item it;
	sanitize(in, &it);
	memset(out, 0, sizeof *out);
	format_title(rc->lang, &it, out->title, sizeof out->title);
	struct sbuf b = { 0 };
	expand_template(rc, &it, in->template_text ? in->template_text : default_template(rc), &b);
	if (!b.oom && b.len == 0)
		sb_str(&b, out->title);
	if (b.oom) {
		free(b.s);
		return -ENOMEM;
	}
	size_t reserve = mention_reserve(rc);
	notify_cut(b.s, rc->limit > reserve + 16 ? rc->limit - reserve : rc->limit);
	b.len = strlen(b.s);
	add_mentions(rc, &b);
	if (b.oom) {
		free(b.s);
		return -ENOMEM;
	}
	notify_cut(b.s, rc->limit);
	out->body = b.s;
	return 0;
}

int notify_item_cmp(const void *a, const void *b)
{
	const struct notify_item *x = *(const struct notify_item *const *)a;
	const struct notify_item *y = *(const struct notify_item *const *)b;
	if (x->severity != y->severity)
		return x->severity < y->severity ? -1 : 1;
	if (x->ts_ms != y->ts_ms)
		return x->ts_ms < y->ts_ms ? -1 : 1;
	return x->job < y->job ? -1 : x->job > y->job;
}

/* One digest line: "【紧急】烟感报警 5号楼2单元701室 16:00:03". */
static void digest_line(const struct notify_render_ctx *rc, const struct notify_item *it, size_t idx,
			struct sbuf *b)
{
	char title[192], when[32];
	format_title(rc->lang, it, title, sizeof title);
	notify_format_local(it->ts_ms, when, sizeof when);
	const char *hms = strlen(when) >= 19 ? when + 11 : when;
	if (rc->format == NOTIFY_FMT_MARKDOWN || rc->format == NOTIFY_FMT_CARD)
		sb_fmt(b, "%zu. **%s** ", idx + 1, title);
	else
		sb_fmt(b, "%zu. %s ", idx + 1, title);
	size_t before = b->len;
	format_location(rc->lang, it, b);
	if (b->len == before)
		sb_str(b, it->device);
	sb_fmt(b, " %s", hms);
	if (it->message[0] && strcmp(it->message, it->type) != 0)
		sb_fmt(b, rc->lang == NOTIFY_LANG_EN ? " — %s" : "：%s", it->message);
}

int notify_render_digest(const struct notify_render_ctx *rc, const struct notify_item *const *items, size_t n,
			 size_t *used, struct notify_text *out)
{
	memset(out, 0, sizeof *out);
	*used = 0;
	if (n == 0)
		return -EINVAL;
	if (n == 1) {
		*used = 1;
		return notify_render_one(rc, items[0], out);
	}
	bool en = rc->lang == NOTIFY_LANG_EN;
	const struct notify_item *top = items[0];
	if (en)
		snprintf(out->title, sizeof out->title, "[%s] %zu notifications", notify_severity_label(rc->lang, top->severity), n);
	else
		snprintf(out->title, sizeof out->title, "【%s】共%zu条告警通知", notify_severity_label(rc->lang, top->severity), n);
	struct sbuf b = { 0 };
	bool md = rc->format == NOTIFY_FMT_MARKDOWN;
	sb_fmt(&b, md && rc->type == NOTIFY_DINGTALK ? "### %s\n\n" : md ? "**%s**\n" : "%s\n", out->title);
	/* Room kept at the end for "and N more", the link and the mentions. */
	size_t reserve = 96 + mention_reserve(rc) + (rc->console_url ? strlen(rc->console_url) + 40 : 0);
	size_t limit = rc->limit > reserve + 64 ? rc->limit - reserve : rc->limit / 2;
	size_t k = 0;
	for (; k < n; k++) {
		struct notify_item it;
		sanitize(items[k], &it);
		struct sbuf line = { 0 };
		digest_line(rc, &it, k, &line);
		if (line.oom) {
			free(line.s);
			b.oom = true;
			break;
		}
		if (b.len + line.len + 2 > limit) {
			if (k == 0) { /* the first item always goes, cut to fit */
				notify_cut(line.s, limit > b.len + 2 ? limit - b.len - 2 : 8);
				line.len = strlen(line.s);
			} else {
				free(line.s);
				break;
			}
		}
		if (k)
			sb_str(&b, md && rc->type == NOTIFY_DINGTALK ? "\n\n" : "\n");
		sb_add(&b, line.s, line.len);
		free(line.s);
	}
	if (k < n)
		sb_fmt(&b, en ? "\n… and %zu more to follow" : "\n……另有%zu条稍后发送", n - k);
	if (rc->console_url && rc->console_url[0] && (md || rc->format == NOTIFY_FMT_CARD))
		sb_fmt(&b, en ? "\n[Open the console](%s)" : "\n[打开控制台](%s)", rc->console_url);
	else if (rc->console_url && rc->console_url[0])
		sb_fmt(&b, en ? "\nConsole: %s" : "\n控制台：%s", rc->console_url);
	add_mentions(rc, &b);
	if (b.oom) {
		free(b.s);
		return -ENOMEM;
	}
	notify_cut(b.s, rc->limit);
	out->body = b.s;
	*used = k;
	return 0;
}

void notify_text_free(struct notify_text *t)
{
	if (t) {
		free(t->body);
		t->body = NULL;
	}
}
