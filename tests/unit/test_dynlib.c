/* Unit tests for run-time loading: all of a library's functions or none,
 * and the error a person can act on (which package, which function). libc
 * and libm stand in for libcurl and libmicrohttpd: always present. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/dynlib.h"

static struct {
	pid_t (*getpid)(void);
	size_t (*strlen)(const char *);
	double (*nothing)(void);
} fns;

static void test_every_function_resolved(void **state)
{
	(void)state;
	char err[256] = "";
	const struct dynlib_sym syms[] = { { "getpid", (void **)&fns.getpid }, { "strlen", (void **)&fns.strlen } };
	void *h = dynlib_open("test", "libc.so.6", "libc6", syms, 2, err, sizeof err);
	assert_non_null(h);
	assert_string_equal(err, "");
	assert_int_equal(fns.getpid(), getpid());
	assert_int_equal(fns.strlen("grid"), 4);
	dlclose(h);
}

static void test_missing_function_resolves_none(void **state)
{
	(void)state;
	char err[256] = "";
	memset(&fns, 0, sizeof fns);
	const struct dynlib_sym syms[] = { { "getpid", (void **)&fns.getpid },
					   { "gridgw_no_such_function", (void **)&fns.nothing } };
	assert_null(dynlib_open("console", "libc.so.6", "libc6", syms, 2, err, sizeof err));
	assert_null(fns.getpid); /* the one found before is not left half-loaded */
	assert_null(fns.nothing);
	assert_string_equal(err, "console: libc.so.6 has no gridgw_no_such_function (too old; install a newer libc6)");
}

static void test_missing_library_names_the_package(void **state)
{
	(void)state;
	char err[256] = "";
	const struct dynlib_sym syms[] = { { "getpid", (void **)&fns.getpid } };
	assert_null(dynlib_open("libcurl", "libgridgw-absent.so.9", "libcurl4", syms, 1, err, sizeof err));
	assert_non_null(strstr(err, "libcurl: cannot load libgridgw-absent.so.9: "));
	assert_non_null(strstr(err, "(install libcurl4)"));
}

static void test_long_error_is_cut_not_overrun(void **state)
{
	(void)state;
	char err[24];
	memset(err, 'x', sizeof err);
	const struct dynlib_sym syms[] = { { "getpid", (void **)&fns.getpid } };
	assert_null(dynlib_open("libcurl", "libgridgw-absent.so.9", "libcurl4", syms, 1, err, 16));
	assert_int_equal(strlen(err), 15);
	assert_int_equal(err[16], 'x');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_function_resolved),
		cmocka_unit_test(test_missing_function_resolves_none),
		cmocka_unit_test(test_missing_library_names_the_package),
		cmocka_unit_test(test_long_error_is_cut_not_overrun),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
