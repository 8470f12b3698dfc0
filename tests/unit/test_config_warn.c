/* Unit tests for the warnings of a valid configuration and the plain words
 * for what libconfig only calls a syntax error (gateway/config/config_warn.c,
 * config_syntax.c): a device no rule watches, a serial port that does not
 * exist, did-you-mean for a misspelt point in an expression, full-width
 * punctuation typed with a Chinese input method (named, with its column),
 * lowercase parity, the column of a syntax error, and the structured list
 * `gridgw check --json` prints. Everything goes through config_load_text,
 * the code path of config_load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config/config.h"

#define NAME "/nonexistent-gridgw-test/gw.conf"

static const char *const base =
	"gateway = { id = \"gw\"; state_dir = \"/tmp\"; };\n"
	"profiles = {\n"
	"  det = { kind = \"smoke\"; points = (\n"
	"    { name = \"alarm\"; table = \"discrete\"; address = 0; type = \"bool\"; },\n"
	"    { name = \"smoke\"; table = \"input\"; address = 0; type = \"u16\"; }\n"
	"  ); };\n"
	"  relay = { kind = \"siren\"; points = (\n"
	"    { name = \"on\"; table = \"coil\"; address = 0; type = \"bool\"; }\n"
	"  ); };\n"
	"  meter = { kind = \"generic\"; points = (\n"
	"    { name = \"v\"; table = \"input\"; address = 0; type = \"u16\"; }\n"
	"  ); };\n"
	"};\n";

/* Loads base + more; returns config_load_text's result. */
static int load(const char *more, struct gw_config **cfg, struct config_errors *errs)
{
	size_t n = strlen(base) + strlen(more) + 1;
	char *text = malloc(n);
	assert_non_null(text);
	snprintf(text, n, "%s%s", base, more);
	int rc = config_load_text(NAME, text, strlen(text), cfg, errs);
	for (int i = 0; i < errs->n; i++)
		print_message("# error: %s\n", errs->msgs[i]);
	free(text);
	return rc;
}

/* Line of base + more where `more`'s line k (1-based) lands. */
static int line_of(int k)
{
	int lines = 0;
	for (const char *p = base; *p; p++)
		lines += *p == '\n';
	return lines + k;
}

static void test_device_without_rule_warns(void **state)
{
	(void)state;
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	int rc = load("buses = ( { name = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; } );\n"
		      "devices = (\n"
		      "  { id = \"d1\"; profile = \"det\"; bus = \"lan\"; unit = 1; },\n"
		      "  { id = \"m1\"; profile = \"meter\"; bus = \"lan\"; unit = 2; },\n"
		      "  { id = \"s1\"; profile = \"relay\"; bus = \"lan\"; unit = 3; }\n"
		      ");\n"
		      "rules = ( { id = \"smoke\"; profile = \"det\"; when = \"alarm\"; type = \"fire.smoke\"; severity = 1;\n"
		      "  on_raise = ( { write = \"s1:on\"; value = 1; } ); } );\n",
		      &cfg, &errs);
	assert_int_equal(rc, 0);
	assert_non_null(cfg);
	assert_int_equal(errs.n, 0);
	/* m1 only: d1 has the smoke rule, s1 is driven by its action */
	assert_int_equal(errs.n_warnings, 1);
	char want[128];
	snprintf(want, sizeof want, NAME ":%d: warning: device \"m1\" has no rule but the built-ins", line_of(4));
	print_message("# %s\n", errs.warnings[0]);
	assert_memory_equal(errs.warnings[0], want, strlen(want));
	assert_int_equal(errs.n_diags, 1);
	assert_int_equal(errs.diags[0].severity, CONFIG_SEV_WARNING);
	assert_int_equal(errs.diags[0].line, line_of(4));
	assert_string_equal(errs.diags[0].file, NAME);
	assert_non_null(strstr(errs.diags[0].message, "profile \"meter\""));
	config_errors_clear(&errs);
	assert_int_equal(errs.n_warnings + errs.n_diags + errs.n, 0);
	assert_null(errs.warnings);
	config_free(cfg);
}

static void test_missing_serial_port_warns(void **state)
{
	(void)state;
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	int rc = load("buses = (\n"
		      "  { name = \"gone\"; type = \"rtu\"; device = \"/nonexistent-gridgw-test/ttyUSB7\"; },\n"
		      "  { name = \"here\"; type = \"rtu\"; device = \"/dev/null\"; parity = \"e\"; }\n"
		      ");\n",
		      &cfg, &errs);
	assert_int_equal(rc, 0);
	assert_int_equal(errs.n_warnings, 1);
	char want[160];
	snprintf(want, sizeof want,
		 NAME ":%d: warning: bus \"gone\": serial port \"/nonexistent-gridgw-test/ttyUSB7\" does not exist",
		 line_of(2));
	assert_memory_equal(errs.warnings[0], want, strlen(want));
	/* lowercase parity is the same parity */
	assert_int_equal(cfg->buses[1].parity, 'E');
	config_errors_clear(&errs);
	config_free(cfg);
}

static void test_parity_still_checked(void **state)
{
	(void)state;
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	assert_int_equal(load("buses = ( { name = \"a\"; type = \"rtu\"; device = \"/dev/null\"; parity = \"x\"; } );\n",
			      &cfg, &errs),
			 -1);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msgs[0], "'parity' = \"x\" is not one of \"N\", \"E\", \"O\""));
	config_errors_clear(&errs);
}

static void test_unknown_point_did_you_mean(void **state)
{
	(void)state;
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	int rc = load("rules = (\n"
		      "  { id = \"a\"; profile = \"det\"; when = \"smok > 3\"; type = \"fire.smoke\"; severity = 1; },\n"
		      "  { id = \"b\"; profile = \"det\"; when = \"temperature > 3\"; type = \"fire.heat\"; severity = 2; }\n"
		      ");\n",
		      &cfg, &errs);
	assert_int_equal(rc, -1);
	assert_null(cfg);
	assert_int_equal(errs.n, 2);
	assert_non_null(strstr(errs.msgs[0], "unknown point 'smok' (did you mean 'smoke'?)"));
	/* nothing close: no guess */
	assert_non_null(strstr(errs.msgs[1], "unknown point 'temperature'"));
	assert_null(strstr(errs.msgs[1], "did you mean"));
	config_errors_clear(&errs);
}

static void test_fullwidth_punctuation(void **state)
{
	(void)state;
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	/* in strings and comments they are fine */
	assert_int_equal(load("# 注释：全角；没关系\n"
			      "rules = ( { id = \"r\"; profile = \"det\"; when = \"alarm\"; type = \"fire.smoke\"; severity = 1;\n"
			      "  message = \"火警：“{device}”；请核实\"; } );\n",
			      &cfg, &errs),
			 0);
	config_errors_clear(&errs);
	config_free(cfg);
	cfg = NULL;
	const char *text = "gateway = { id = \"gw\"；state_dir ＝ \"/tmp\"; };\n"
			   "x = “abc”;\n";
	assert_int_equal(config_load_text("fw.conf", text, strlen(text), &cfg, &errs), -1);
	for (int i = 0; i < errs.n; i++)
		print_message("# %s\n", errs.msgs[i]);
	assert_int_equal(errs.n, 4);
	assert_string_equal(errs.msgs[0],
			    "fw.conf:1: full-width '；' (U+FF1B) at column 22, typed with a Chinese input method: use ';'");
	assert_string_equal(errs.msgs[1],
			    "fw.conf:1: full-width '＝' (U+FF1D) at column 33, typed with a Chinese input method: use '='");
	assert_string_equal(errs.msgs[2],
			    "fw.conf:2: full-width '“' (U+201C) at column 5, typed with a Chinese input method: use '\"'");
	assert_string_equal(errs.msgs[3],
			    "fw.conf:2: full-width '”' (U+201D) at column 9, typed with a Chinese input method: use '\"'");
	assert_int_equal(errs.diags[1].column, 33);
	assert_int_equal(errs.diags[1].severity, CONFIG_SEV_ERROR);
	config_errors_clear(&errs);
}

static void test_other_text_outside_strings(void **state)
{
	(void)state;
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	const char *text = "gateway = { id = \"gw\"; 名称 = \"x\"; };\n";
	assert_int_equal(config_load_text("t.conf", text, strlen(text), &cfg, &errs), -1);
	assert_int_equal(errs.n, 1);
	print_message("# %s\n", errs.msgs[0]);
	assert_non_null(strstr(errs.msgs[0], "t.conf:1: '名称' (U+540D) at column 24 is outside a string"));
	config_errors_clear(&errs);
}

static void test_syntax_error_column(void **state)
{
	(void)state;
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	const char *cases[][2] = {
		{ "gateway = {\n  id = \"x\";\n  state_dir = ;\n};\n",
		  "s.conf:3: syntax error at column 15: unexpected ';' where a value belongs" },
		{ "gateway = { id = \"x\" };\n}\n", "s.conf:2: syntax error at column 1: unexpected '}' where a setting name belongs" },
		{ "buses = ( { name = \"a\"; } { name = \"b\"; } );\n",
		  "s.conf:1: syntax error at column 27: unexpected '{' in a list, where ',' or ')' belongs" },
		{ "a = [ 1, { b = 2; } ];\n",
		  "s.conf:1: syntax error at column 10: unexpected '{' where an array element (a number, string or boolean) belongs" },
		{ "gateway { id = \"x\"; };\n",
		  "s.conf:1: syntax error at column 9: unexpected '{' after a setting name, where '=' belongs" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(config_load_text("s.conf", cases[i][0], strlen(cases[i][0]), &cfg, &errs), -1);
		assert_int_equal(errs.n, 1);
		if (strcmp(errs.msgs[0], cases[i][1]) != 0)
			print_message("# got  %s\n# want %s\n", errs.msgs[0], cases[i][1]);
		assert_string_equal(errs.msgs[0], cases[i][1]);
		assert_true(errs.diags[0].column > 0);
		config_errors_clear(&errs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_without_rule_warns),
		cmocka_unit_test(test_missing_serial_port_warns),
		cmocka_unit_test(test_parity_still_checked),
		cmocka_unit_test(test_unknown_point_did_you_mean),
		cmocka_unit_test(test_fullwidth_punctuation),
		cmocka_unit_test(test_other_text_outside_strings),
		cmocka_unit_test(test_syntax_error_column),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
