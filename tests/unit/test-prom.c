/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Prometheus text writer (lib/prom.h): the exposition format 0.0.4 line by line, escaping of
 * label values and help texts, and mistakes reported once by finish.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prom.h"

static char *finish_ok(struct tk_prom *p)
{
	char *text = NULL;
	size_t len = 0;
	tk_err err = {};

	assert_int_equal(tk_prom_finish(p, &text, &len, &err), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

static void test_families(void **state)
{
	_cleanup_(tk_prom_freep) struct tk_prom *p = NULL;
	const char *const alpha[] = { "tenant", "alpha" };
	const char *const drops[] = { "tenant", "alpha", "reason", "spoofing" };
	_cleanup_free_ char *text = NULL;

	(void)state;
	assert_int_equal(tk_prom_new(&p, NULL), 0);
	tk_prom_family(p, "tenantkit_tenant_transmit_bytes_total", "counter",
		       "Bytes the tenant's containers sent.");
	tk_prom_sample(p, alpha, 1, 1234);
	tk_prom_sample(p, NULL, 0, UINT64_MAX);
	tk_prom_family(p, "tenantkit_tenant_drops_total", "counter", "Dropped packets.");
	tk_prom_sample(p, drops, 2, 0);
	text = finish_ok(p);
	assert_string_equal(text,
			    "# HELP tenantkit_tenant_transmit_bytes_total Bytes the "
			    "tenant's containers sent.\n"
			    "# TYPE tenantkit_tenant_transmit_bytes_total counter\n"
			    "tenantkit_tenant_transmit_bytes_total{tenant=\"alpha\"} 1234\n"
			    "tenantkit_tenant_transmit_bytes_total 18446744073709551615\n"
			    "# HELP tenantkit_tenant_drops_total Dropped packets.\n"
			    "# TYPE tenantkit_tenant_drops_total counter\n"
			    "tenantkit_tenant_drops_total{tenant=\"alpha\",reason=\"spoofing\"} "
			    "0\n");
}

/* A label value may hold anything: \ " and newline are escaped, nothing else is. */
static void test_escaping(void **state)
{
	_cleanup_(tk_prom_freep) struct tk_prom *p = NULL;
	const char *const odd[] = { "endpoint", "a\\b\"c\nd 'e' {f}=g," };
	_cleanup_free_ char *text = NULL;

	(void)state;
	assert_int_equal(tk_prom_new(&p, NULL), 0);
	tk_prom_family(p, "x_total", "counter", "back\\slash\nnew \"line\"");
	tk_prom_sample(p, odd, 1, 7);
	text = finish_ok(p);
	assert_string_equal(text, "# HELP x_total back\\\\slash\\nnew \"line\"\n"
				  "# TYPE x_total counter\n"
				  "x_total{endpoint=\"a\\\\b\\\"c\\nd 'e' {f}=g,\"} 7\n");
}

static void expect_mistake(void (*write)(struct tk_prom *p), const char *msg)
{
	_cleanup_(tk_prom_freep) struct tk_prom *p = NULL;
	char *text = NULL;
	size_t len = 0;
	tk_err err = {};

	assert_int_equal(tk_prom_new(&p, NULL), 0);
	write(p);
	assert_int_equal(tk_prom_finish(p, &text, &len, &err), -EINVAL);
	assert_null(text);
	assert_non_null(strstr(err.msg, msg));
}

static void bad_metric(struct tk_prom *p)
{
	tk_prom_family(p, "1tenant", "counter", "");
}
static void bad_metric_char(struct tk_prom *p)
{
	tk_prom_family(p, "tenant-bytes", "counter", "");
}
static void bad_type(struct tk_prom *p)
{
	tk_prom_family(p, "x", "histogramm", "");
}
static void bad_label(struct tk_prom *p)
{
	const char *const l[] = { "ten:ant", "a" };
	tk_prom_family(p, "x", "gauge", "");
	tk_prom_sample(p, l, 1, 1);
}
static void reserved_label(struct tk_prom *p)
{
	const char *const l[] = { "__name__", "a" };
	tk_prom_family(p, "x", "gauge", "");
	tk_prom_sample(p, l, 1, 1);
}
static void no_family(struct tk_prom *p)
{
	tk_prom_sample(p, NULL, 0, 1);
}
/* The first mistake is the one reported, and later good calls do not hide it. */
static void first_wins(struct tk_prom *p)
{
	bad_metric(p);
	bad_type(p);
	tk_prom_family(p, "good", "counter", "");
}

static void test_mistakes(void **state)
{
	(void)state;
	expect_mistake(bad_metric, "invalid metric name '1tenant'");
	expect_mistake(bad_metric_char, "invalid metric name 'tenant-bytes'");
	expect_mistake(bad_type, "invalid metric type 'histogramm'");
	expect_mistake(bad_label, "invalid label name 'ten:ant'");
	expect_mistake(reserved_label, "invalid label name '__name__'");
	expect_mistake(no_family, "a sample without a metric family");
	expect_mistake(first_wins, "invalid metric name '1tenant'");
}

/* Colons belong to metric names (recording rules), digits after the first character. */
static void test_names(void **state)
{
	_cleanup_(tk_prom_freep) struct tk_prom *p = NULL;
	const char *const l[] = { "_a1", "" };
	_cleanup_free_ char *text = NULL;

	(void)state;
	assert_int_equal(tk_prom_new(&p, NULL), 0);
	tk_prom_family(p, "job:x_2", "gauge", "");
	tk_prom_sample(p, l, 1, 0);
	text = finish_ok(p);
	assert_string_equal(text, "# HELP job:x_2 \n# TYPE job:x_2 gauge\njob:x_2{_a1=\"\"} 0\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_families),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_mistakes),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
