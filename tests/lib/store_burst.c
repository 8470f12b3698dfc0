/* store_burst — crash-consistency helper for tests/integration/test_store_kill9.sh.
 *
 *   store_burst DIR run [SECONDS]       append events in bursts of transactions
 *                                       and print every committed seq (one per
 *                                       line, flushed) only after its COMMIT
 *                                       returned; some transactions are rolled
 *                                       back on purpose, and now and then all
 *                                       events are marked delivered and pruned
 *                                       (delivered_keep 0), so the seq counter
 *                                       must survive with no rows left. Stops
 *                                       after SECONDS (default 30) unless killed.
 *   store_burst DIR verify FILE...      after a kill: the database opens,
 *                                       PRAGMA integrity_check says ok, the rows
 *                                       left are gapless, every printed seq is
 *                                       committed (present, or at most the
 *                                       recorded high-water mark when pruned),
 *                                       and the next seq follows the highest.
 * Exit 0 when ok; 1 with a reason on stdout otherwise. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "gateway/store/store.h"
#include "common/timeutil.h"

static struct store_config burst_config(void)
{
	struct store_config sc = {
		.max_size_mb = 64,
		.history_keep_ms = 86400000,
		.history_interval_ms = 60000,
		.delivered_keep_ms = 0,
		.synchronous = "full",
	};
	return sc;
}

static int run(const char *dir, int seconds)
{
	struct store_config sc = burst_config();
	char err[256];
	struct store *s = store_open(dir, &sc, err, sizeof err);
	if (!s) {
		fprintf(stderr, "store_burst: %s\n", err);
		return 1;
	}
	unsigned seed = (unsigned)getpid() ^ (unsigned)time_mono_ms();
	int64_t end = time_mono_ms() + (int64_t)seconds * 1000;
	for (unsigned txn = 1; time_mono_ms() < end; txn++) {
		int n = 1 + rand_r(&seed) % 20;
		uint64_t first = 0, seq = 0;
		if (store_begin(s) != STORE_OK)
			goto fail;
		for (int i = 0; i < n; i++) {
			char payload[200];
			int len = snprintf(payload, sizeof payload, "{\"txn\":%u,\"i\":%d,\"pad\":\"%0*d\"}", txn, i,
					   rand_r(&seed) % 100, 0);
			if (store_append_event(s, "01BURST", "incident", payload, (size_t)len, &seq) != STORE_OK)
				goto fail;
			if (i == 0)
				first = seq;
		}
		if (rand_r(&seed) % 7 == 0) {
			store_rollback(s); /* these seqs go back to the pool */
			continue;
		}
		if (store_commit(s) != STORE_OK)
			goto fail;
		for (uint64_t q = first; q <= seq; q++)
			printf("%llu\n", (unsigned long long)q);
		fflush(stdout);
		if (txn % 10 == 0) {
			/* Deliver and prune everything: the counter must not go back. */
			struct outbox_event ev[512];
			uint64_t d[512];
			int k = 0;
			if (store_fetch_undelivered(s, 0, 512, ev, &k) != STORE_OK)
				goto fail;
			for (int i = 0; i < k; i++) {
				d[i] = ev[i].seq;
				outbox_event_free(&ev[i]);
			}
			if (store_mark_delivered(s, d, k) != STORE_OK || store_prune(s, time_wall_ms() + 1000) < 0)
				goto fail;
		}
	}
	store_close(s);
	return 0;
fail:
	fprintf(stderr, "store_burst: %s\n", store_last_error(s));
	store_close(s);
	return 1;
}

static int raw_query(sqlite3 *db, const char *sql, long long *out)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Reads the printed seqs; a last line without newline was cut by the kill. */
static int check_printed(const char *file, long long min_row, long long max_row, long long high,
			 long long *count, long long *prev)
{
	FILE *fp = fopen(file, "r");
	if (!fp) {
		printf("FAIL cannot read %s\n", file);
		return -1;
	}
	char line[64];
	int bad = 0;
	while (!bad && fgets(line, sizeof line, fp)) {
		if (!strchr(line, '\n'))
			break;
		long long v = atoll(line);
		if (v <= *prev) {
			printf("FAIL %s: printed seq %lld after %lld (not increasing)\n", file, v, *prev);
			bad = 1;
		} else if (v > high) {
			printf("FAIL %s: printed (committed) seq %lld is lost: highest in store %lld\n", file, v, high);
			bad = 1;
		} else if (max_row > 0 && v >= min_row && v > max_row) {
			printf("FAIL %s: seq %lld above the rows left [%lld, %lld]\n", file, v, min_row, max_row);
			bad = 1;
		}
		*prev = v;
		(*count)++;
	}
	fclose(fp);
	return bad ? -1 : 0;
}

static int verify(const char *dir, int nfiles, char **files)
{
	struct store_config sc = burst_config();
	char err[256];
	struct store *s = store_open(dir, &sc, err, sizeof err);
	if (!s) {
		printf("FAIL store does not open: %s\n", err);
		return 1;
	}
	char integrity[256];
	if (store_check_integrity(s, integrity, sizeof integrity) != STORE_OK) {
		printf("FAIL integrity_check: %s\n", integrity);
		store_close(s);
		return 1;
	}
	uint64_t next = store_next_seq(s);
	store_close(s);

	char path[512];
	snprintf(path, sizeof path, "%s/gridgw.db", dir);
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		printf("FAIL raw open\n");
		sqlite3_close(db);
		return 1;
	}
	long long n = 0, lo = 0, hi = 0, meta = 0;
	int rc = raw_query(db, "SELECT count(*) FROM events", &n);
	rc |= raw_query(db, "SELECT coalesce(min(seq), 0) FROM events", &lo);
	rc |= raw_query(db, "SELECT coalesce(max(seq), 0) FROM events", &hi);
	rc |= raw_query(db, "SELECT value FROM meta WHERE key = 'last_seq'", &meta);
	sqlite3_close(db);
	if (rc) {
		printf("FAIL queries\n");
		return 1;
	}
	if (n > 0 && hi - lo + 1 != n) {
		printf("FAIL rows have gaps: %lld rows in [%lld, %lld]\n", n, lo, hi);
		return 1;
	}
	long long high = hi > meta ? hi : meta;
	if ((long long)next != high + 1) {
		printf("FAIL next seq %llu, expected %lld\n", (unsigned long long)next, high + 1);
		return 1;
	}
	long long count = 0, prev = 0;
	for (int i = 0; i < nfiles; i++)
		if (check_printed(files[i], lo, hi, high, &count, &prev) != 0)
			return 1;
	printf("ok %lld printed seqs committed; rows [%lld, %lld] gapless; next seq %llu\n", count, lo, hi,
	       (unsigned long long)next);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[2], "run") == 0) {
		log_set_level(LOG_LVL_WARN);
		return run(argv[1], argc >= 4 ? atoi(argv[3]) : 30);
	}
	if (argc >= 4 && strcmp(argv[2], "verify") == 0) {
		log_set_level(LOG_LVL_ERROR);
		return verify(argv[1], argc - 3, argv + 3);
	}
	fprintf(stderr, "usage: store_burst DIR run [SECONDS] | store_burst DIR verify PRINTED...\n");
	return 2;
}
