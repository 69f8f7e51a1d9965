/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Prometheus text format writer (prom.h). */
#include "prom.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tk_prom {
	FILE *f;
	char *text;
	size_t len;
	char family[128]; /* the family samples belong to, "" before the first */
	tk_err err;	  /* the first mistake; code 0 while there is none */
};

int tk_prom_new(struct tk_prom **ret, tk_err *err)
{
	struct tk_prom *p = calloc(1, sizeof(*p));

	if (!p || !(p->f = open_memstream(&p->text, &p->len))) {
		free(p);
		return tk_err_set(err, -ENOMEM, "out of memory");
	}
	*ret = p;
	return 0;
}

struct tk_prom *tk_prom_free(struct tk_prom *p)
{
	if (p) {
		if (p->f)
			fclose(p->f);
		free(p->text);
		free(p);
	}
	return NULL;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metrics; labels the same without ':' (and not "__" first). */
static bool valid_name(const char *s, bool label)
{
	if (!s || !s[0] || (label && strncmp(s, "__", 2) == 0))
		return false;
	for (const char *c = s; *c; c++) {
		bool alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
			     (!label && *c == ':');
		if (!alpha && (c == s || *c < '0' || *c > '9'))
			return false;
	}
	return true;
}

static void mistake(struct tk_prom *p, const char *what, const char *name)
{
	if (p->err.code == 0)
		tk_err_set(&p->err, -EINVAL, "metrics: %s '%s'", what, name ? name : "(null)");
}

/* Help text: backslash and newline escaped; label values also the double quote. */
static void put_escaped(struct tk_prom *p, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", p->f);
		else if (*s == '\n')
			fputs("\\n", p->f);
		else if (quote && *s == '"')
			fputs("\\\"", p->f);
		else
			fputc(*s, p->f);
	}
}

void tk_prom_family(struct tk_prom *p, const char *name, const char *type, const char *help)
{
	if (!p->f)
		return; /* finished */
	if (!valid_name(name, false) || strlen(name) >= sizeof(p->family)) {
		mistake(p, "invalid metric name", name);
		return;
	}
	if (!type ||
	    (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "untyped"))) {
		mistake(p, "invalid metric type", type);
		return;
	}
	snprintf(p->family, sizeof(p->family), "%s", name);
	fprintf(p->f, "# HELP %s ", name);
	put_escaped(p, help ? help : "", false);
	fprintf(p->f, "\n# TYPE %s %s\n", name, type);
}

void tk_prom_sample(struct tk_prom *p, const char *const *labels, size_t n_labels, uint64_t value)
{
	if (!p->f)
		return;
	if (!p->family[0]) {
		mistake(p, "a sample without a metric family", "");
		return;
	}
	for (size_t i = 0; i < n_labels; i++)
		if (!valid_name(labels[2 * i], true) || !labels[2 * i + 1]) {
			mistake(p, "invalid label name", labels[2 * i]);
			return;
		}
	fputs(p->family, p->f);
	for (size_t i = 0; i < n_labels; i++) {
		fprintf(p->f, "%s%s=\"", i == 0 ? "{" : ",", labels[2 * i]);
		put_escaped(p, labels[2 * i + 1], true);
		fputc('"', p->f);
	}
	fprintf(p->f, "%s %" PRIu64 "\n", n_labels > 0 ? "}" : "", value);
}

int tk_prom_finish(struct tk_prom *p, char **ret_text, size_t *ret_len, tk_err *err)
{
	if (p->err.code < 0) {
		if (err)
			*err = p->err;
		return p->err.code;
	}
	if (!p->f)
		return tk_err_set(err, -EINVAL, "metrics: already finished");
	if (fflush(p->f) != 0 || ferror(p->f))
		return tk_err_set(err, -ENOMEM, "out of memory writing the metrics");
	fclose(p->f);
	p->f = NULL;
	*ret_text = p->text;
	*ret_len = p->len;
	p->text = NULL;
	p->len = 0;
	return 0;
}
