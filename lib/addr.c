/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "cleanup.h"

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

int tk_addr_parse(const char *s, struct tk_addr *ret, tk_err *err)
{
	struct tk_addr a = {};

	if (inet_pton(AF_INET, s, a.bytes) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, a.bytes) == 1)
		a.family = AF_INET6;
	else
		return tk_err_set(err, -EINVAL, "'%s' is not a valid IPv4 or IPv6 address", s);
	*ret = a;
	return 0;
}

const char *tk_addr_format(const struct tk_addr *a, char *buf, size_t size)
{
	if (!inet_ntop(a->family, a->bytes, buf, size))
		snprintf(buf, size, "?");
	return buf;
}

bool tk_addr_equal(const struct tk_addr *a, const struct tk_addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, addr_len(a->family)) == 0;
}

static void mask_host_bits(struct tk_addr *a, unsigned len)
{
	for (unsigned i = 0; i < addr_len(a->family); i++) {
		unsigned bits = len > i * 8 ? len - i * 8 : 0;
		if (bits < 8)
			a->bytes[i] &= (uint8_t)(0xff00 >> bits);
	}
}

static int split_prefix(const char *s, struct tk_prefix *ret, tk_err *err)
{
	char buf[TK_PREFIX_STRLEN];
	const char *slash = strchr(s, '/');
	char *end;
	long len;
	int r;

	if (!slash || (size_t)(slash - s) >= sizeof(buf) || slash == s)
		return tk_err_set(err, -EINVAL, "'%s' is not a CIDR prefix like 10.0.0.0/24", s);
	memcpy(buf, s, slash - s);
	buf[slash - s] = '\0';
	if ((r = tk_addr_parse(buf, &ret->addr, err)) < 0)
		return tk_err_set(err, r, "'%s' is not a CIDR prefix: bad address '%s'", s, buf);
	if (!isdigit((unsigned char)slash[1]))
		return tk_err_set(err, -EINVAL, "'%s' has no valid prefix length", s);
	errno = 0;
	len = strtol(slash + 1, &end, 10);
	if (errno || *end || len < 0 || len > (long)addr_len(ret->addr.family) * 8)
		return tk_err_set(err, -EINVAL, "'%s' has an invalid prefix length (0..%zu)", s,
				  addr_len(ret->addr.family) * 8);
	ret->len = (uint8_t)len;
	return 0;
}

int tk_prefix_parse(const char *s, struct tk_prefix *ret, tk_err *err)
{
	struct tk_prefix p = {};
	char buf[TK_PREFIX_STRLEN];
	int r;

	if ((r = split_prefix(s, &p, err)) < 0)
		return r;
	struct tk_prefix masked = p;
	mask_host_bits(&masked.addr, p.len);
	if (!tk_addr_equal(&masked.addr, &p.addr))
		return tk_err_set(err, -EINVAL,
				  "subnet '%s' has host bits set (did you mean '%s'?)", s,
				  tk_prefix_format(&masked, buf, sizeof(buf)));
	*ret = p;
	return 0;
}

int tk_prefix_parse_host(const char *s, struct tk_prefix *ret, tk_err *err)
{
	struct tk_prefix p = {};
	int r = split_prefix(s, &p, err);

	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

const char *tk_prefix_format(const struct tk_prefix *p, char *buf, size_t size)
{
	char a[TK_ADDR_STRLEN];

	snprintf(buf, size, "%s/%u", tk_addr_format(&p->addr, a, sizeof(a)), p->len);
	return buf;
}

bool tk_prefix_contains(const struct tk_prefix *p, const struct tk_addr *a)
{
	struct tk_addr m = *a;

	if (a->family != p->addr.family)
		return false;
	mask_host_bits(&m, p->len);
	return tk_addr_equal(&m, &p->addr);
}

bool tk_prefix_overlaps(const struct tk_prefix *a, const struct tk_prefix *b)
{
	if (a->addr.family != b->addr.family)
		return false;
	return a->len <= b->len ? tk_prefix_contains(a, &b->addr) : tk_prefix_contains(b, &a->addr);
}

/* Ranges that mean something to every host; a tenant network there would capture its traffic. */
static const struct {
	const char *prefix, *what;
} reserved[] = {
	{ "0.0.0.0/8", "'this network'" },
	{ "127.0.0.0/8", "loopback" },
	{ "169.254.0.0/16", "link-local" },
	{ "224.0.0.0/4", "multicast" },
	{ "240.0.0.0/4", "reserved (includes broadcast)" },
	{ "::/8", "reserved (unspecified, loopback, IPv4-mapped)" },
	{ "fe80::/10", "link-local" },
	{ "fec0::/10", "site-local (deprecated)" },
	{ "ff00::/8", "multicast" },
};

const char *tk_prefix_reserved(const struct tk_prefix *p, struct tk_prefix *ret_range)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		struct tk_prefix r;

		if (tk_prefix_parse(reserved[i].prefix, &r, NULL) < 0)
			continue;
		if (tk_prefix_overlaps(p, &r)) {
			if (ret_range)
				*ret_range = r;
			return reserved[i].what;
		}
	}
	return NULL;
}

uint64_t tk_prefix_size(const struct tk_prefix *p, uint8_t unit_len)
{
	unsigned bits;

	if (p->len >= unit_len)
		return 1;
	bits = unit_len - p->len;
	return bits >= 63 ? UINT64_C(1) << 63 : UINT64_C(1) << bits;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* By hand rather than sscanf: endpoint.list parses one per row, 10,000 a listing. */
int tk_mac_parse(const char *s, uint8_t ret[6], tk_err *err)
{
	uint8_t mac[6];

	if (strlen(s) != 17)
		goto fail;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[i * 3]), lo = hex_digit(s[i * 3 + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':'))
			goto fail;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(ret, mac, sizeof(mac)); /* only on success */
	return 0;
fail:
	return tk_err_set(err, -EINVAL, "'%s' is not a MAC address like 02:00:00:aa:bb:cc", s);
}

const char *tk_mac_format(const uint8_t mac[6], char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	char text[TK_MAC_STRLEN];

	for (int i = 0; i < 6; i++) {
		text[i * 3] = hex[mac[i] >> 4];
		text[i * 3 + 1] = hex[mac[i] & 15];
		text[i * 3 + 2] = i < 5 ? ':' : '\0';
	}
	/* cut to size as snprintf would */
	if (size > 0) {
		size_t n = size < sizeof(text) ? size - 1 : sizeof(text) - 1;

		memcpy(buf, text, n);
		buf[n] = '\0';
	}
	return buf;
}

void tk_mac_random(uint8_t ret[6])
{
	if (getrandom(ret, 6, 0) != 6) {
		for (int i = 0; i < 6; i++)
			ret[i] = (uint8_t)random();
	}
	ret[0] = (uint8_t)((ret[0] & 0xfe) | 0x02); /* unicast, locally administered */
}

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

int tk_name_validate(const char *name, const char *what, tk_err *err)
{
	size_t n = strlen(name);

	if (n == 0 || n > TK_NAME_MAX)
		return tk_err_set(err, -EINVAL, "%s must be 1 to %d characters long", what,
				  TK_NAME_MAX);
	if (!isalnum((unsigned char)name[0]))
		return tk_err_set(err, -EINVAL, "%s '%s' must start with a letter or digit", what,
				  name);
	for (size_t i = 0; i < n; i++)
		if (!name_char(name[i]))
			return tk_err_set(
				err, -EINVAL,
				"%s '%s' may only contain letters, digits, '_', '.' and '-'", what,
				name);
	return 0;
}

int tk_ifname_validate(const char *name, tk_err *err)
{
	size_t n = strlen(name);

	if (n == 0 || n > TK_IFNAME_MAX)
		return tk_err_set(err, -EINVAL, "interface name '%s' must be 1 to 15 bytes long",
				  name);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return tk_err_set(err, -EINVAL, "interface name '%s' is not allowed", name);
	for (size_t i = 0; i < n; i++)
		if (name[i] == '/' || name[i] == ':' || isspace((unsigned char)name[i]) ||
		    !isprint((unsigned char)name[i]))
			return tk_err_set(err, -EINVAL,
					  "interface name '%s' contains a forbidden character",
					  name);
	return 0;
}

int tk_container_id_validate(const char *id, tk_err *err)
{
	size_t n = strlen(id);

	if (n == 0 || n > 1024)
		return tk_err_set(err, -EINVAL, "container id must be 1 to 1024 characters long");
	if (!isalnum((unsigned char)id[0]))
		return tk_err_set(err, -EINVAL,
				  "container id '%s' must start with a letter or digit", id);
	for (size_t i = 0; i < n; i++)
		if (!name_char(id[i]))
			return tk_err_set(err, -EINVAL,
					  "container id '%s' may only contain letters, digits, "
					  "'_', '.' and '-'",
					  id);
	return 0;
}

int tk_prefix_list_parse(const char *s, const char *what, struct tk_prefix_list *ret, tk_err *err)
{
	_cleanup_free_ char *copy = strdup(s);
	struct tk_prefix_list l = {};
	char *save = NULL;
	int r;

	if (!copy)
		return tk_err_set(err, -ENOMEM, "out of memory");
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (l.n == TK_PREFIX_LIST_MAX)
			return tk_err_set(err, -E2BIG, "%s: at most %d prefixes", what,
					  TK_PREFIX_LIST_MAX);
		if ((r = tk_prefix_parse(tok, &l.p[l.n], err)) < 0)
			return tk_err_wrap(err, r, "%s", what);
		l.n++;
	}
	*ret = l;
	return 0;
}

bool tk_prefix_list_covers(const struct tk_prefix_list *l, const struct tk_prefix *p)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->p[i].addr.family == p->addr.family && l->p[i].len <= p->len &&
		    tk_prefix_contains(&l->p[i], &p->addr))
			return true;
	return false;
}

const char *tk_prefix_list_format(const struct tk_prefix_list *l, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n && off < size; i++) {
		char one[TK_PREFIX_STRLEN];
		int n = snprintf(buf + off, size - off, "%s%s", i ? "," : "",
				 tk_prefix_format(&l->p[i], one, sizeof(one)));
		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

struct tk_addr tk_addr_link_local(const uint8_t mac[6])
{
	struct tk_addr a = { .family = AF_INET6 };

	a.bytes[0] = 0xfe;
	a.bytes[1] = 0x80;
	a.bytes[8] = mac[0] ^ 0x02;
	a.bytes[9] = mac[1];
	a.bytes[10] = mac[2];
	a.bytes[11] = 0xff;
	a.bytes[12] = 0xfe;
	a.bytes[13] = mac[3];
	a.bytes[14] = mac[4];
	a.bytes[15] = mac[5];
	return a;
}
