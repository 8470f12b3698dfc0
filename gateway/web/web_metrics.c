/* web_metrics — GET /metrics in the Prometheus text format 0.0.4, rendered
 * from the very status object `gridgw status --json` prints (so the two
 * can never disagree) plus the process_* figures read from /proc/self. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <dirent.h>

#include "gateway/web/web_priv.h"

static void text_reserve(struct web_text *t, size_t more)
{
	if (t->failed || t->len + more + 1 <= t->cap)
		return;
	size_t cap = t->cap ? t->cap : 4096;
	while (cap < t->len + more + 1)
		cap *= 2;
	char *s = realloc(t->s, cap);
	if (s == NULL) {
		t->failed = true;
		return;
	}
	t->s = s;
	t->cap = cap;
}

void web_text_printf(struct web_text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->failed = true;
		return;
	}
	text_reserve(t, (size_t)n);
	if (t->failed)
		return;
	if ((size_t)n < sizeof small) {
		memcpy(t->s + t->len, small, (size_t)n + 1);
	} else {
		va_start(ap, fmt);
		vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	t->len += (size_t)n;
}

static void text_putc(struct web_text *t, char ch)
{
	text_reserve(t, 1);
	if (t->failed)
		return;
	t->s[t->len++] = ch;
	t->s[t->len] = '\0';
}

void web_text_free(struct web_text *t)
{
	free(t->s);
	memset(t, 0, sizeof *t);
}

void web_text_label_value(struct web_text *t, const char *value)
{
	for (const char *p = value ? value : ""; *p; p++) {
		if (*p == '\\' || *p == '"') {
			text_putc(t, '\\');
			text_putc(t, *p);
		} else if (*p == '\n') {
			text_putc(t, '\\');
			text_putc(t, 'n');
		} else {
			text_putc(t, *p);
		}
	}
}

void web_metric_family(struct web_text *t, const char *name, const char *type, const char *help)
{
	web_text_printf(t, "# HELP %s ", name);
	for (const char *p = help; *p; p++) {
		if (*p == '\\' || *p == '\n') {
			text_putc(t, '\\');
			text_putc(t, *p == '\n' ? 'n' : '\\');
		} else {
			text_putc(t, *p);
		}
	}
	web_text_printf(t, "\n# TYPE %s %s\n", name, type);
}

static void put_value(struct web_text *t, double v)
{
	if (isnan(v))
		web_text_printf(t, "NaN");
	else if (isinf(v))
		web_text_printf(t, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		web_text_printf(t, "%.0f", v);
	else
		web_text_printf(t, "%.17g", v);
}

void web_metric_sample(struct web_text *t, const char *name, const char *const *labels, double value)
{
	web_text_printf(t, "%s", name);
	if (labels && labels[0]) {
		text_putc(t, '{');
		for (int i = 0; labels[i] && labels[i + 1]; i += 2) {
			if (i)
				text_putc(t, ',');
			web_text_printf(t, "%s=\"", labels[i]);
			web_text_label_value(t, labels[i + 1]);
			text_putc(t, '"');
		}
		text_putc(t, '}');
	}
	text_putc(t, ' ');
	put_value(t, value);
	text_putc(t, '\n');
}

/* ------------------------------------------------------------ /proc/self */

int web_process_stats(struct web_process_stats *out)
{
	memset(out, 0, sizeof *out);
	long tck = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/stat", "r");
	if (f == NULL)
		return -errno;
	char buf[1024];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which is in parentheses and may hold
	 * spaces: start after the last ')'. Field 3 is the state. */
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return -EPROTO;
	unsigned long utime = 0, stime = 0;
	unsigned long long starttime = 0;
	long rss = 0;
	int field = 3;
	for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "), field++) {
		if (field == 14)
			utime = strtoul(tok, NULL, 10);
		else if (field == 15)
			stime = strtoul(tok, NULL, 10);
		else if (field == 22)
			starttime = strtoull(tok, NULL, 10);
		else if (field == 24) {
			rss = strtol(tok, NULL, 10);
			break;
		}
	}
	/* qemu-user synthesises /proc/self/stat with rss 0 (arm64 unit tests
	 * in CI); /proc/self/statm passes through and holds the same pages. */
	if (rss <= 0 && (f = fopen("/proc/self/statm", "r")) != NULL) {
		long size = 0;
		if (fscanf(f, "%ld %ld", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	if (tck <= 0)
		tck = 100;
	out->cpu_seconds = (double)(utime + stime) / (double)tck;
	out->resident_bytes = (double)rss * (double)(page > 0 ? page : 4096);
	/* starttime is in ticks since boot; boot time from /proc/stat btime. */
	f = fopen("/proc/stat", "r");
	double btime = 0;
	if (f != NULL) {
		char line[256];
		while (fgets(line, sizeof line, f))
			if (strncmp(line, "btime ", 6) == 0) {
				btime = strtod(line + 6, NULL);
				break;
			}
		fclose(f);
	}
	if (btime == 0) {
		/* /proc/stat hidden (ProcSubset=pid): boot time from the clocks. */
		struct timespec rt, bt;
		clock_gettime(CLOCK_REALTIME, &rt);
		clock_gettime(CLOCK_BOOTTIME, &bt);
		btime = (double)rt.tv_sec - (double)bt.tv_sec + ((double)rt.tv_nsec - (double)bt.tv_nsec) / 1e9;
	}
	out->start_time_seconds = btime + (double)starttime / (double)tck;
	DIR *d = opendir("/proc/self/fd");
	if (d != NULL) {
		int fds = 0;
		for (struct dirent *e = readdir(d); e; e = readdir(d))
			if (e->d_name[0] != '.')
				fds++;
		closedir(d);
		out->open_fds = fds > 0 ? fds - 1 : 0; /* the DIR's own fd */
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		out->max_fds = rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
	return 0;
}

/* ---------------------------------------------------------------- render */

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

/* One family with one sample per element of array `arr_key`, labelled by
 * the element's `name`. */
static void per_item(struct web_text *t, const cJSON *status, const char *arr_key, const char *metric,
		     const char *type, const char *help, const char *label, const char *field)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(status, arr_key);
	web_metric_family(t, metric, type, help);
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		const char *labels[] = { label, str(it, "name"), NULL };
		web_metric_sample(t, metric, labels, num(it, field));
	}
}

char *web_metrics_render(const cJSON *status, const struct web_process_stats *ps)
{
	struct web_text t = { 0 };
	const cJSON *devs = cJSON_GetObjectItemCaseSensitive(status, "devices");

	web_metric_family(&t, "gridgw_up", "gauge", "1 while the gateway's core answers.");
	web_metric_sample(&t, "gridgw_up", NULL, 1);

	web_metric_family(&t, "gridgw_devices", "gauge",
			  "Configured devices by state: online + offline = all; shelved counts the shelved among them.");
	static const char *const states[] = { "online", "offline", "shelved" };
	for (int i = 0; i < 3; i++) {
		const char *labels[] = { "state", states[i], NULL };
		web_metric_sample(&t, "gridgw_devices", labels, num(devs, states[i]));
	}

	web_metric_family(&t, "gridgw_incidents_open", "gauge", "Open incidents by severity (1 = most urgent).");
	const cJSON *sev = cJSON_GetObjectItemCaseSensitive(status, "open_by_severity");
	for (int s = 1; s <= 4; s++) {
		char k[12];
		snprintf(k, sizeof k, "%d", s);
		const char *labels[] = { "severity", k, NULL };
		web_metric_sample(&t, "gridgw_incidents_open", labels, num(sev, k));
	}

	web_metric_family(&t, "gridgw_events_undelivered", "gauge", "Incident events in the outbox not yet acknowledged by the platform.");
	web_metric_sample(&t, "gridgw_events_undelivered", NULL, num(status, "backlog"));

	web_metric_family(&t, "gridgw_uplink_connected", "gauge", "1 while the uplink to the platform is up.");
	web_metric_sample(&t, "gridgw_uplink_connected", NULL, strcmp(str(status, "uplink"), "up") == 0 ? 1 : 0);

	per_item(&t, status, "buses", "gridgw_bus_requests_total", "counter", "Modbus requests sent, retries included.",
		 "bus", "requests");
	per_item(&t, status, "buses", "gridgw_bus_errors_total", "counter", "Modbus requests that failed.", "bus",
		 "errors");

	web_metric_family(&t, "gridgw_bus_poll_lateness_seconds", "summary",
			  "Poll start minus its scheduled time, since the bus started.");
	const cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(status, "buses"))
	{
		static const struct { const char *q, *field; } qs[] = {
			{ "0.5", "late_p50_us" }, { "0.99", "late_p99_us" }, { "1", "late_max_us" },
		};
		for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
			const char *labels[] = { "bus", str(b, "name"), "quantile", qs[i].q, NULL };
			web_metric_sample(&t, "gridgw_bus_poll_lateness_seconds", labels, num(b, qs[i].field) / 1e6);
		}
		/* Polls are counted; their lateness is kept as a histogram, not
		 * summed, so the summary has a _count and no _sum. */
		const char *labels[] = { "bus", str(b, "name"), NULL };
		web_metric_sample(&t, "gridgw_bus_poll_lateness_seconds_count", labels, num(b, "polls"));
	}

	per_item(&t, status, "sources", "gridgw_mqtt_source_messages_total", "counter",
		 "Messages received from each MQTT source.", "source", "received");
	per_item(&t, status, "sources", "gridgw_mqtt_source_dropped_total", "counter",
		 "Telemetry readings an MQTT source dropped (oldest first) with its backlog full.", "source", "dropped");

	const cJSON *notify = cJSON_GetObjectItemCaseSensitive(status, "notify");
	const cJSON *channels = cJSON_GetObjectItemCaseSensitive(notify, "channels");
	if (cJSON_IsArray(channels)) {
		per_item(&t, notify, "channels", "gridgw_notify_sent_total", "counter", "Notifications sent per channel.",
			 "channel", "sent");
		per_item(&t, notify, "channels", "gridgw_notify_failed_total", "counter",
			 "Notifications that failed per channel.", "channel", "failed");
	}

	web_metric_family(&t, "gridgw_store_bytes", "gauge", "Size of the SQLite store (pages in use times page size).");
	web_metric_sample(&t, "gridgw_store_bytes", NULL, num(status, "store_bytes"));

	web_metric_family(&t, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
	web_metric_sample(&t, "process_cpu_seconds_total", NULL, ps->cpu_seconds);
	web_metric_family(&t, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	web_metric_sample(&t, "process_resident_memory_bytes", NULL, ps->resident_bytes);
	web_metric_family(&t, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
	web_metric_sample(&t, "process_start_time_seconds", NULL, ps->start_time_seconds);
	web_metric_family(&t, "process_open_fds", "gauge", "Number of open file descriptors.");
	web_metric_sample(&t, "process_open_fds", NULL, ps->open_fds);
	web_metric_family(&t, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
	web_metric_sample(&t, "process_max_fds", NULL, ps->max_fds);

	if (t.failed) {
		web_text_free(&t);
		return NULL;
	}
	return t.s;
}
