/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reads "<who> <op> <microseconds>" lines (in operation order) and prints, per who and op, the
 * median, p90 and the medians of the first and last 100 operations (how cost grows with the
 * number of endpoints present), then SUBJECT's ratio to PEER.
 *
 * Usage: bench-report PEER SUBJECT [GOALS [SCOPE]] < samples
 *   GOALS: comma-separated "op<=ratio" or "op>=ratio" on SUBJECT/PEER, e.g. "add<=1.5" or
 *   "add>=10,del>=5"; SCOPE "all" (the default) checks them for the median and for the first and
 *   last 100 operations (a goal that holds at every scale), "median" for the median alone.
 *   "op.growth<=x" is a goal on SUBJECT's own growth (last 100 / first 100) for op.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
	char who[16], op[16];
	double *us;
	size_t n, size;
};

static struct series all[8];
static size_t n_all;

static struct series *series_of(const char *who, const char *op)
{
	for (size_t i = 0; i < n_all; i++)
		if (strcmp(all[i].who, who) == 0 && strcmp(all[i].op, op) == 0)
			return &all[i];
	if (n_all == sizeof(all) / sizeof(all[0])) {
		fprintf(stderr, "bench-report: too many series\n");
		exit(EXIT_FAILURE);
	}
	snprintf(all[n_all].who, sizeof(all[0].who), "%s", who);
	snprintf(all[n_all].op, sizeof(all[0].op), "%s", op);
	return &all[n_all++];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The q-quantile of us[from..to), on a sorted copy. */
static double quantile(const double *us, size_t from, size_t to, double q)
{
	size_t n = to - from;
	double *copy, v;

	if (n == 0)
		return 0;
	copy = malloc(n * sizeof(double));
	if (!copy)
		exit(EXIT_FAILURE);
	memcpy(copy, us + from, n * sizeof(double));
	qsort(copy, n, sizeof(double), cmp_double);
	v = copy[(size_t)(q * (double)(n - 1) + 0.5)];
	free(copy);
	return v;
}

struct figures {
	double median, p90, first, last;
};

static int figures(const char *who, const char *op, struct figures *f)
{
	struct series *s = series_of(who, op);
	size_t w = s->n < 100 ? s->n : 100;

	if (s->n == 0)
		return -1;
	*f = (struct figures){ quantile(s->us, 0, s->n, 0.5), quantile(s->us, 0, s->n, 0.9),
			       quantile(s->us, 0, w, 0.5), quantile(s->us, s->n - w, s->n, 0.5) };
	return 0;
}

/* Whether ratio satisfies every goal about op in "op<=x,op>=y". */
static bool meets(const char *goals, const char *op, double ratio)
{
	size_t len = strlen(op);

	for (const char *g = goals; *g; g = strchrnul(g, ',') + (strchr(g, ',') ? 1 : 0)) {
		if (strncmp(g, op, len) != 0 || (g[len] != '<' && g[len] != '>') ||
		    g[len + 1] != '=')
			continue;
		double limit = atof(g + len + 2);
		if (g[len] == '<' ? ratio > limit : ratio < limit)
			return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	const char *goals = argc > 3 ? argv[3] : "", *names[2];
	bool every_scale = argc <= 4 || strcmp(argv[4], "median") != 0;
	char who[16], op[16], growth[32];
	double us;
	int ok = 1;

	if (argc < 3) {
		fprintf(stderr, "Usage: bench-report PEER SUBJECT [GOALS] < samples\n");
		return 2;
	}
	names[0] = argv[1];
	names[1] = argv[2];
	while (scanf("%15s %15s %lf", who, op, &us) == 3) {
		struct series *s = series_of(who, op);
		if (s->n == s->size) {
			s->size = s->size ? 2 * s->size : 1024;
			if (!(s->us = realloc(s->us, s->size * sizeof(double))))
				return EXIT_FAILURE;
		}
		s->us[s->n++] = us;
	}
	printf("%-4s %-14s %6s %10s %10s %12s %12s %8s\n", "op", "who", "n", "median_ms", "p90_ms",
	       "first100_ms", "last100_ms", "growth");
	for (int k = 0; k < 2; k++) {
		const char *o = k ? "del" : "add";
		struct figures f[2];

		for (int w = 0; w < 2; w++) {
			if (figures(names[w], o, &f[w]) < 0) {
				fprintf(stderr, "bench-report: no '%s %s' samples\n", names[w], o);
				return EXIT_FAILURE;
			}
			printf("%-4s %-14s %6zu %10.2f %10.2f %12.2f %12.2f %7.2fx\n", o, names[w],
			       series_of(names[w], o)->n, f[w].median / 1e3, f[w].p90 / 1e3,
			       f[w].first / 1e3, f[w].last / 1e3, f[w].last / f[w].first);
		}
		printf("%-4s %s/%s: median %.2fx, p90 %.2fx, first 100 %.2fx, last 100 %.2fx\n", o,
		       names[1], names[0], f[1].median / f[0].median, f[1].p90 / f[0].p90,
		       f[1].first / f[0].first, f[1].last / f[0].last);
		if (!meets(goals, o, f[1].median / f[0].median) ||
		    (every_scale && (!meets(goals, o, f[1].first / f[0].first) ||
				     !meets(goals, o, f[1].last / f[0].last))))
			ok = 0;
		snprintf(growth, sizeof(growth), "%s.growth", o);
		if (!meets(goals, growth, f[1].last / f[1].first))
			ok = 0;
	}
	if (goals[0])
		printf("Goals (%s/%s %s, for the %s): %s\n", names[1], names[0], goals,
		       every_scale ? "median, first and last 100" : "median",
		       ok ? "met" : "NOT met");
	return 0;
}
