/* store_recover — the daemon's start on a damaged store (see store.h,
 * store_open_recover, and docs/operations.md "A corrupt store").
 *
 * A gateway that refuses to start because its database is damaged raises
 * no alarm at all, and systemd restarts it into the same refusal forever.
 * So a file SQLite calls corrupt, that fails PRAGMA quick_check, or that is
 * 0 bytes is moved aside whole (gridgw.db.corrupt-<UTC time>, with its -wal
 * and -shm, never rewritten) and a new store with a new store id takes its
 * place; the caller raises gateway.storage with rec->reason.
 *
 * What is never moved: a file this process cannot open for writing or
 * read (permissions, a read-only file system, an I/O error). Those are not
 * corruption, moving them would only hide the cause, and on a read-only
 * file system the move fails anyway: the start is refused with the reason.
 * The probe uses a read-only connection so that nothing of the old file,
 * not even a WAL checkpoint, is written before it is moved. */
#include "gateway/store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

#define DB_NAME "gridgw.db"

enum verdict {
	V_FINE,     /* opens and passes quick_check, or does not exist yet */
	V_EMPTY,    /* 0 bytes and no WAL: nothing to keep, but still suspicious */
	V_CORRUPT,  /* corrupt, not a database, or its data is only in a WAL SQLite would drop */
	V_REFUSE,   /* cannot be read or written: not ours to move */
};

static off_t file_size(const char *path, bool *exists)
{
	struct stat st;
	*exists = lstat(path, &st) == 0;
	return *exists ? st.st_size : 0;
}

static bool is_corrupt_rc(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

/* Opens the file read-only and runs PRAGMA quick_check (O(size), without
 * the index cross-checks of integrity_check). */
static enum verdict quick_check(const char *path, char *why, size_t len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	enum verdict v = V_FINE;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(db, 1);
		rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
	}
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
		if (t && strcmp((const char *)t, "ok") != 0) {
			/* "*** in database main ***\nPage 88: ..." -> one line */
			const char *p = (const char *)t;
			if (strncmp(p, "*** in database main ***\n", 25) == 0)
				p += 25;
			snprintf(why, len, "quick_check: %s", p);
			for (char *q = why; *q; q++)
				if (*q == '\n' || *q == '\r')
					*q = ' ';
			v = V_CORRUPT;
		} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	if (v == V_FINE && rc != SQLITE_OK) {
		snprintf(why, len, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		v = is_corrupt_rc(rc) ? V_CORRUPT : V_REFUSE;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* quick_check reads the whole file before the gateway polls anything (1.3 s
 * for a full 106 MB store on the reference box): logged with its time, so a
 * slow start is explained in the log. */
static enum verdict quick_check_timed(const char *path, off_t size, char *why, size_t len)
{
	int64_t t0 = time_mono_ms();
	enum verdict v = quick_check(path, why, len);
	log_info("store", "checked %s (%.1f MB) in %lld ms: %s", path, (double)size / 1e6,
		 (long long)(time_mono_ms() - t0), v == V_FINE ? "ok" : why);
	return v;
}

static enum verdict probe(const char *path, char *why, size_t len)
{
	char wal[PATH_MAX + 8];
	snprintf(wal, sizeof wal, "%s-wal", path);
	bool wal_exists;
	struct stat st;
	off_t wal_size = file_size(wal, &wal_exists);
	if (lstat(path, &st) != 0) {
		if (errno != ENOENT) {
			snprintf(why, len, "cannot stat %s: %s", path, strerror(errno));
			return V_REFUSE;
		}
		if (wal_size > 0) { /* SQLite would delete a WAL beside a new file */
			snprintf(why, len, "store file missing but its WAL holds %lld bytes", (long long)wal_size);
			return V_CORRUPT;
		}
		return V_FINE; /* a first start */
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "%s is not a regular file", path);
		return V_REFUSE;
	}
	/* Writable by us? As root permissions do not stop us, a read-only file
	 * system does; either way an unwritable store is not corrupt. */
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(why, len, "cannot open %s for writing: %s", path, strerror(errno));
		return V_REFUSE;
	}
	close(fd);
	if (st.st_size == 0) {
		if (wal_size > 0) {
			snprintf(why, len, "store file is empty but its WAL holds %lld bytes", (long long)wal_size);
			return V_CORRUPT;
		}
		snprintf(why, len, "store file was empty (0 bytes)");
		return V_EMPTY;
	}
	return quick_check_timed(path, st.st_size, why, len);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

/* Renames path, path-wal and path-shm to DEST, DEST-wal, DEST-shm with
 * DEST = path.corrupt-<UTC time>[-N]. Renames do not touch the bytes. */
static int move_aside(const char *state_dir, const char *path, char *dest, size_t len, char *err, size_t errlen)
{
	char ts[32];
	struct tm tm;
	time_t now = time(NULL);
	strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
	struct stat st;
	for (int i = 1; i < 100; i++) {
		int n = i == 1 ? snprintf(dest, len, "%s.corrupt-%s", path, ts)
			       : snprintf(dest, len, "%s.corrupt-%s-%d", path, ts, i);
		if (n < 0 || (size_t)n + 5 > len) {
			snprintf(err, errlen, "state_dir path too long");
			return -1;
		}
		if (lstat(dest, &st) != 0 && errno == ENOENT)
			break;
	}
	const char *suffix[] = { "", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		char from[PATH_MAX + 8], to[PATH_MAX + 8];
		snprintf(from, sizeof from, "%s%s", path, suffix[i]);
		snprintf(to, sizeof to, "%s%s", dest, suffix[i]);
		if (lstat(from, &st) != 0)
			continue;
		if (rename(from, to) != 0) {
			snprintf(err, errlen, "cannot move %s aside to %s: %s; not starting on it", from, to,
				 strerror(errno));
			log_error("store", "%s", err);
			return -1;
		}
	}
	int rc = fsync_dir(state_dir);
	if (rc < 0)
		log_warn("store", "fsync of %s after moving the store aside: %s", state_dir, strerror(-rc));
	return 0;
}

struct store *store_open_recover(const char *state_dir, const struct store_config *sc,
				 struct store_recovery *rec, char *err, size_t errlen)
{
	memset(rec, 0, sizeof *rec);
	if (!state_dir || !*state_dir)
		return store_open(state_dir, sc, err, errlen);
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s/%s", state_dir, DB_NAME);
	if (n < 0 || (size_t)n >= sizeof path - 32) {
		snprintf(err, errlen, "state_dir path too long");
		return NULL;
	}
	char why[PATH_MAX + 256] = "";
	enum verdict v = probe(path, why, sizeof why);
	if (v == V_REFUSE) {
		snprintf(err, errlen, "%s (the store is not moved aside: this is not corruption)", why);
		log_error("store", "%s", err);
		return NULL;
	}
	if (v == V_FINE)
		return store_open(state_dir, sc, err, errlen);
	if (move_aside(state_dir, path, rec->moved_to, sizeof rec->moved_to, err, errlen) != 0)
		return NULL;
	struct store *s = store_open(state_dir, sc, err, errlen);
	if (!s)
		return NULL;
	rec->replaced = true;
	rec->was_empty = v == V_EMPTY;
	const char *base = strrchr(rec->moved_to, '/');
	base = base ? base + 1 : rec->moved_to;
	if (v == V_EMPTY) {
		snprintf(rec->reason, sizeof rec->reason,
			 "Store file was empty (0 bytes): new store %s started (seq from 1); kept as %.80s",
			 store_id(s), base);
		log_warn("store", "%s was empty (0 bytes): moved aside to %s; started a new store %s, its events "
			 "start again at seq 1 and carry the new store id; any earlier incidents and undelivered "
			 "events are gone", path, rec->moved_to, store_id(s));
	} else {
		snprintf(rec->reason, sizeof rec->reason,
			 "Store was corrupt (%.100s): new store %s started (seq from 1); old file kept as %.64s",
			 why, store_id(s), base);
		log_error("store", "%s is corrupt (%s): moved aside to %s (with its -wal/-shm); started a new "
			  "store %s, its events start again at seq 1 and carry the new store id; open incidents and "
			  "undelivered events of the old file are not carried over", path, why, rec->moved_to,
			  store_id(s));
	}
	return s;
}
