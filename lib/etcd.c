/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An etcd v3 client over the JSON gateway (etcd.h says which conventions it follows). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cleanup.h"
#include "etcd.h"
#include "json.h"

#define ENDPOINTS_MAX 8

struct tk_etcd {
	char *endpoints[ENDPOINTS_MAX];
	size_t n_endpoints, current;
	unsigned timeout_ms;
	CURL *curl;
};

struct buf {
	char *data;
	size_t len, size;
};

static void buf_done(struct buf *b)
{
	free(b->data);
	*b = (struct buf){};
}

static int buf_append(struct buf *b, const char *data, size_t len)
{
	if (b->len + len + 1 > b->size) {
		size_t size = b->size ? b->size : 1024;
		char *p;

		while (size < b->len + len + 1)
			size *= 2;
		if (!(p = realloc(b->data, size)))
			return -ENOMEM;
		b->data = p;
		b->size = size;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

/* base64, standard alphabet, padded: what the gateway's bytes fields are. */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *tk_etcd_b64_encode(const void *data, size_t len)
{
	const uint8_t *p = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

int tk_etcd_b64_decode(const char *text, char **ret, size_t *ret_len, tk_err *err)
{
	size_t len = strlen(text), n = 0;
	_cleanup_free_ char *out = NULL;

	if (len % 4)
		return tk_err_set(err, -EINVAL, "invalid base64 '%.32s': length %zu", text, len);
	if (!(out = malloc(len / 4 * 3 + 1)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i += 4) {
		int v[4];

		for (int j = 0; j < 4; j++) {
			bool pad = text[i + j] == '=' && i + 4 == len && j >= 2 &&
				   (j == 3 || text[i + 3] == '=');
			v[j] = pad ? 0 : b64_value(text[i + j]);
			if (v[j] < 0)
				return tk_err_set(err, -EINVAL, "invalid base64 '%.32s'", text);
		}
		out[n++] = (char)(v[0] << 2 | v[1] >> 4);
		if (text[i + 2] != '=')
			out[n++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
		if (text[i + 3] != '=')
			out[n++] = (char)((v[2] & 3) << 6 | v[3]);
	}
	out[n] = '\0';
	*ret = TAKE_PTR(out);
	if (ret_len)
		*ret_len = n;
	return 0;
}

char *tk_etcd_prefix_end_b64(const char *prefix)
{
	size_t len = strlen(prefix);
	_cleanup_free_ uint8_t *end = (uint8_t *)strdup(prefix);

	if (!end)
		return NULL;
	while (len > 0) {
		if (end[len - 1] < 0xff) {
			end[len - 1]++;
			return tk_etcd_b64_encode(end, len);
		}
		len--;
	}
	/* Only 0xff bytes: every key from prefix on ("\0" means no upper bound). */
	return tk_etcd_b64_encode("", 1);
}

int tk_etcd_json_int(json_t *o, const char *field, int64_t *ret, tk_err *err)
{
	json_t *v = json_object_get(o, field);
	const char *s;
	char *end;
	long long n;

	if (!v) {
		*ret = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return tk_err_set(err, -EPROTO, "etcd: '%s' is not an integer", field);
	s = json_string_value(v);
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return tk_err_set(err, -EPROTO, "etcd: '%s' is not an integer: '%.32s'", field, s);
	*ret = n;
	return 0;
}

void tk_etcd_kvs_done(struct tk_etcd_kvs *kvs)
{
	for (size_t i = 0; i < kvs->n; i++) {
		free(kvs->kv[i].key);
		free(kvs->kv[i].value);
	}
	free(kvs->kv);
	*kvs = (struct tk_etcd_kvs){};
}

static void kv_done(struct tk_etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	*kv = (struct tk_etcd_kv){};
}

static int parse_kv(json_t *o, struct tk_etcd_kv *ret, tk_err *err)
{
	struct tk_etcd_kv kv = {};
	json_t *k = json_object_get(o, "key"), *v = json_object_get(o, "value");
	int r;

	if (!json_is_object(o) || !json_is_string(k) || (v && !json_is_string(v)))
		return tk_err_set(err, -EPROTO, "etcd: a key-value without a key");
	if ((r = tk_etcd_b64_decode(json_string_value(k), &kv.key, NULL, err)) < 0 ||
	    (r = tk_etcd_b64_decode(v ? json_string_value(v) : "", &kv.value, &kv.value_len, err)) <
		    0 ||
	    (r = tk_etcd_json_int(o, "create_revision", &kv.create_revision, err)) < 0 ||
	    (r = tk_etcd_json_int(o, "mod_revision", &kv.mod_revision, err)) < 0 ||
	    (r = tk_etcd_json_int(o, "version", &kv.version, err)) < 0 ||
	    (r = tk_etcd_json_int(o, "lease", &kv.lease, err)) < 0) {
		kv_done(&kv);
		return r;
	}
	*ret = kv;
	return 0;
}

static int header_revision(json_t *resp, int64_t *ret, tk_err *err)
{
	return tk_etcd_json_int(json_object_get(resp, "header"), "revision", ret, err);
}

int tk_etcd_parse_kvs(json_t *resp, struct tk_etcd_kvs *ret, tk_err *err)
{
	json_t *kvs = json_object_get(resp, "kvs"), *o;
	size_t i;
	int r;

	if (!json_is_object(resp) || (kvs && !json_is_array(kvs)))
		return tk_err_set(err, -EPROTO, "etcd: not a range response");
	if ((r = header_revision(resp, &ret->revision, err)) < 0)
		return r;
	if (!kvs || json_array_size(kvs) == 0)
		return 0;
	{
		struct tk_etcd_kv *p =
			realloc(ret->kv, (ret->n + json_array_size(kvs)) * sizeof(*ret->kv));
		if (!p)
			return tk_err_set(err, -ENOMEM, "out of memory");
		ret->kv = p;
	}
	json_array_foreach(kvs, i, o)
	{
		if ((r = parse_kv(o, &ret->kv[ret->n], err)) < 0)
			return r;
		ret->n++;
	}
	return 0;
}

int tk_etcd_parse_txn(json_t *resp, bool *ret_succeeded, struct tk_etcd_kvs *ret_kvs, tk_err *err)
{
	json_t *responses = json_object_get(resp, "responses"), *o;
	int64_t revision;
	size_t i;
	int r;

	if (!json_is_object(resp) || (responses && !json_is_array(responses)))
		return tk_err_set(err, -EPROTO, "etcd: not a txn response");
	if ((r = header_revision(resp, &revision, err)) < 0)
		return r;
	/* A failed txn has no "succeeded" at all: false is the zero value the gateway omits. */
	*ret_succeeded = json_is_true(json_object_get(resp, "succeeded"));
	if (!ret_kvs)
		return 0;
	json_array_foreach(responses, i, o)
	{
		json_t *range = json_object_get(o, "response_range");

		if (range && (r = tk_etcd_parse_kvs(range, ret_kvs, err)) < 0)
			return r;
	}
	ret_kvs->revision = revision;
	return 0;
}

static int add_key(json_t *o, const char *key, bool prefix)
{
	_cleanup_free_ char *k = tk_etcd_b64_encode(key, strlen(key));
	_cleanup_free_ char *end = prefix ? tk_etcd_prefix_end_b64(key) : NULL;

	if (!k || (prefix && !end))
		return -ENOMEM;
	if (json_object_set_new(o, "key", json_string(k)) < 0 ||
	    (end && json_object_set_new(o, "range_end", json_string(end)) < 0))
		return -ENOMEM;
	return 0;
}

/* int64s go as strings, as the gateway writes them. */
static json_t *int64_json(int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

json_t *tk_etcd_range_request(const char *key, bool prefix)
{
	json_t *o = json_object();

	if (o && add_key(o, key, prefix) < 0)
		return json_decref(o), NULL;
	return o;
}

json_t *tk_etcd_watch_request(const char *key, bool prefix, int64_t start_revision)
{
	json_t *c = tk_etcd_range_request(key, prefix);

	if (!c)
		return NULL;
	json_object_set_new(c, "prev_kv", json_true());
	if (start_revision > 0)
		json_object_set_new(c, "start_revision", int64_json(start_revision));
	return json_pack("{s:o}", "create_request", c);
}

static json_t *op_json(const struct tk_etcd_op *op)
{
	static const char *const names[_TK_ETCD_OP_MAX] = {
		[TK_ETCD_OP_GET] = "request_range",
		[TK_ETCD_OP_PUT] = "request_put",
		[TK_ETCD_OP_DELETE] = "request_delete_range",
	};
	json_t *o;

	if ((unsigned)op->kind >= _TK_ETCD_OP_MAX)
		return NULL;
	o = tk_etcd_range_request(op->key, op->kind != TK_ETCD_OP_PUT && op->prefix);
	if (!o)
		return NULL;
	if (op->kind == TK_ETCD_OP_PUT) {
		_cleanup_free_ char *v = tk_etcd_b64_encode(op->value ? op->value : "",
							    op->value ? strlen(op->value) : 0);
		if (!v || json_object_set_new(o, "value", json_string(v)) < 0)
			return json_decref(o), NULL;
		if (op->lease)
			json_object_set_new(o, "lease", int64_json(op->lease));
	}
	return json_pack("{s:o}", names[op->kind], o);
}

static json_t *cmp_json(const struct tk_etcd_cmp *c)
{
	static const char *const targets[_TK_ETCD_TARGET_MAX] = { "VERSION", "CREATE", "MOD",
								  "VALUE", "LEASE" };
	static const char *const fields[_TK_ETCD_TARGET_MAX] = { "version", "create_revision",
								 "mod_revision", "value", "lease" };
	static const char *const results[_TK_ETCD_RESULT_MAX] = { "EQUAL", "NOT_EQUAL", "GREATER",
								  "LESS" };
	json_t *o;

	if ((unsigned)c->target >= _TK_ETCD_TARGET_MAX ||
	    (unsigned)c->result >= _TK_ETCD_RESULT_MAX)
		return NULL;
	if (!(o = tk_etcd_range_request(c->key, c->prefix)))
		return NULL;
	json_object_set_new(o, "target", json_string(targets[c->target]));
	json_object_set_new(o, "result", json_string(results[c->result]));
	if (c->target == TK_ETCD_VALUE) {
		_cleanup_free_ char *v = tk_etcd_b64_encode(c->value ? c->value : "",
							    c->value ? strlen(c->value) : 0);
		if (!v)
			return json_decref(o), NULL;
		json_object_set_new(o, fields[c->target], json_string(v));
	} else {
		json_object_set_new(o, fields[c->target], int64_json(c->number));
	}
	return o;
}

static json_t *ops_json(const struct tk_etcd_op *ops, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		json_t *o = op_json(&ops[i]);

		if (!o || json_array_append_new(a, o) < 0)
			return json_decref(a), NULL;
	}
	return a;
}

json_t *tk_etcd_txn_request(const struct tk_etcd_cmp *cmp, size_t n_cmp,
			    const struct tk_etcd_op *success, size_t n_success,
			    const struct tk_etcd_op *failure, size_t n_failure)
{
	json_t *compare = json_array(), *s, *f;

	for (size_t i = 0; compare && i < n_cmp; i++) {
		json_t *o = cmp_json(&cmp[i]);

		if (!o || json_array_append_new(compare, o) < 0)
			return json_decref(compare), NULL;
	}
	s = ops_json(success, n_success);
	f = ops_json(failure, n_failure);
	if (!compare || !s || !f) {
		json_decref(compare);
		json_decref(s);
		json_decref(f);
		return NULL;
	}
	return json_pack("{s:o, s:o, s:o}", "compare", compare, "success", s, "failure", f);
}

int tk_etcd_http_error(long status, const char *body, size_t len, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *o = json_loadb(body ? body : "", len, 0, NULL);
	const char *msg = json_string_value(json_object_get(o, "message"));
	json_int_t code = json_integer_value(json_object_get(o, "code"));
	int r;

	if (!msg)
		msg = json_string_value(json_object_get(o, "error"));
	/* gRPC codes: 5 NOT_FOUND (a lease), 3 INVALID_ARGUMENT, 4 DEADLINE_EXCEEDED,
	 * 14 UNAVAILABLE, 8 RESOURCE_EXHAUSTED, 7 PERMISSION_DENIED, 16 UNAUTHENTICATED. */
	switch (code) {
	case 3: r = -EINVAL; break;
	case 4: r = -ETIMEDOUT; break;
	case 5: r = -ENOENT; break;
	case 7:
	case 16: r = -EACCES; break;
	case 8: r = -ENOSPC; break;
	case 14: r = -EAGAIN; break;
	default: r = -EIO; break;
	}
	if (msg)
		return tk_err_set(err, r, "etcd answered HTTP %ld: %s", status, msg);
	return tk_err_set(err, r, "etcd answered HTTP %ld: %.200s", status, body ? body : "");
}

int tk_etcd_open(const char *endpoints, unsigned timeout_ms, struct tk_etcd **ret, tk_err *err)
{
	_cleanup_free_ char *copy = strdup(endpoints);
	struct tk_etcd *e;
	char *save = NULL;

	if (!copy)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (!(e = calloc(1, sizeof(*e))))
		return tk_err_set(err, -ENOMEM, "out of memory");
	e->timeout_ms = timeout_ms ? timeout_ms : 5000;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t len = strlen(t);

		if (strncmp(t, "http://", 7) != 0 || len <= 7) {
			tk_etcd_close(e);
			return tk_err_set(err, -EINVAL,
					  "etcd endpoint '%s' is not an http://HOST:PORT URL", t);
		}
		if (e->n_endpoints == ENDPOINTS_MAX) {
			tk_etcd_close(e);
			return tk_err_set(err, -E2BIG, "at most %d etcd endpoints", ENDPOINTS_MAX);
		}
		while (len > 7 && t[len - 1] == '/')
			t[--len] = '\0';
		if (!(e->endpoints[e->n_endpoints++] = strdup(t))) {
			tk_etcd_close(e);
			return tk_err_set(err, -ENOMEM, "out of memory");
		}
	}
	if (e->n_endpoints == 0) {
		tk_etcd_close(e);
		return tk_err_set(err, -EINVAL, "no etcd endpoint in '%s'", endpoints);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(e->curl = curl_easy_init())) {
		tk_etcd_close(e);
		return tk_err_set(err, -ENOMEM, "cannot initialise libcurl");
	}
	*ret = e;
	return 0;
}

struct tk_etcd *tk_etcd_close(struct tk_etcd *e)
{
	if (!e)
		return NULL;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	for (size_t i = 0; i < e->n_endpoints; i++)
		free(e->endpoints[i]);
	free(e);
	return NULL;
}

const char *tk_etcd_endpoint(const struct tk_etcd *e)
{
	return e->endpoints[e->current];
}

static size_t write_buf(char *data, size_t size, size_t n, void *userdata)
{
	return buf_append(userdata, data, size * n) < 0 ? 0 : size * n;
}

/* Whether another endpoint could do better: the connection failed, not the request. */
static bool curl_unreachable(CURLcode c)
{
	return c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST ||
	       c == CURLE_OPERATION_TIMEDOUT || c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR ||
	       c == CURLE_GOT_NOTHING;
}

static int curl_error(CURLcode c, const char *url, tk_err *err)
{
	int r = c == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
		: curl_unreachable(c)	      ? -ECONNREFUSED
		: c == CURLE_OUT_OF_MEMORY    ? -ENOMEM
					      : -EIO;

	return tk_err_set(err, r, "etcd at '%s' %s: %s", url,
			  r == -ETIMEDOUT ? "did not answer in time" : "cannot be reached",
			  curl_easy_strerror(c));
}

static void setup_post(CURL *curl, const char *url, const char *body, struct curl_slist *headers)
{
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
}

/* Appends "URL (why)" to the list of members a request tried. */
static void note_tried(char *tried, size_t size, const char *endpoint, const char *why)
{
	size_t l = strlen(tried);

	snprintf(tried + l, size - l, "%s%s (%s)", l ? ", " : "", endpoint, why);
}

/*
 * POSTs request to path on the endpoints in turn; *ret is the parsed 200 answer.  When more than
 * one member was tried (quorum lost, members down), the error names each and why, then the last
 * error, which keeps its errno.
 */
static int call(struct tk_etcd *e, const char *path, json_t *request, json_t **ret, tk_err *err)
{
	_cleanup_(tk_json_text_freep) char *body = NULL;
	struct curl_slist *headers = NULL;
	char tried[1024] = "";
	size_t n_tried = 0;
	tk_err last = {};
	int r = -ECONNREFUSED;

	if (!request || !(body = json_dumps(request, JSON_COMPACT)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	headers = curl_slist_append(NULL, "Content-Type: application/json");
	for (size_t i = 0; i < e->n_endpoints; i++) {
		size_t at = (e->current + i) % e->n_endpoints;
		struct buf reply = {};
		char url[512];
		long status = 0;
		CURLcode c;

		snprintf(url, sizeof(url), "%s%s", e->endpoints[at], path);
		setup_post(e->curl, url, body, headers);
		curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
		curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, write_buf);
		curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &reply);
		c = curl_easy_perform(e->curl);
		n_tried++;
		if (c != CURLE_OK) {
			r = curl_error(c, url, &last);
			note_tried(tried, sizeof(tried), e->endpoints[at], curl_easy_strerror(c));
			buf_done(&reply);
			if (curl_unreachable(c))
				continue;
			break;
		}
		e->current = at;
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status != 200) {
			r = tk_etcd_http_error(status, reply.data, reply.len, &last);
			note_tried(tried, sizeof(tried), e->endpoints[at], last.msg);
			/* UNAVAILABLE: no leader, or it timed out (as a timeout here): another may. */
			if (r == -EAGAIN) {
				buf_done(&reply);
				continue;
			}
		} else
			r = tk_json_parse(reply.data ? reply.data : "", reply.len, "etcd's answer",
					  ret, &last);
		buf_done(&reply);
		break;
	}
	curl_slist_free_all(headers);
	if (r >= 0)
		return r;
	if (n_tried > 1)
		return tk_err_set(
			err, r, "no etcd member answered (quorum lost?): tried %s; last error: %s",
			tried, last.msg);
	return tk_err_set(err, r, "%s", last.msg);
}

int tk_etcd_get(struct tk_etcd *e, const char *key, bool prefix, struct tk_etcd_kvs *ret,
		tk_err *err)
{
	_cleanup_(json_decrefp) json_t *req = tk_etcd_range_request(key, prefix), *resp = NULL;
	struct tk_etcd_kvs kvs = {};
	int r;

	if ((r = call(e, "/v3/kv/range", req, &resp, err)) < 0)
		return r;
	if ((r = tk_etcd_parse_kvs(resp, &kvs, err)) < 0) {
		tk_etcd_kvs_done(&kvs);
		return r;
	}
	*ret = kvs;
	return 0;
}

int tk_etcd_put(struct tk_etcd *e, const char *key, const char *value, int64_t lease,
		int64_t *ret_revision, tk_err *err)
{
	struct tk_etcd_op op = {
		.kind = TK_ETCD_OP_PUT, .key = key, .value = value, .lease = lease
	};
	_cleanup_(json_decrefp) json_t *req = op_json(&op), *resp = NULL;
	int64_t revision;
	int r;

	if (!req)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((r = call(e, "/v3/kv/put", json_object_get(req, "request_put"), &resp, err)) < 0 ||
	    (r = header_revision(resp, &revision, err)) < 0)
		return r;
	if (ret_revision)
		*ret_revision = revision;
	return 0;
}

int tk_etcd_delete(struct tk_etcd *e, const char *key, bool prefix, int64_t *ret_deleted,
		   tk_err *err)
{
	_cleanup_(json_decrefp) json_t *req = tk_etcd_range_request(key, prefix), *resp = NULL;
	int64_t deleted;
	int r;

	if ((r = call(e, "/v3/kv/deleterange", req, &resp, err)) < 0 ||
	    (r = tk_etcd_json_int(resp, "deleted", &deleted, err)) < 0)
		return r;
	if (ret_deleted)
		*ret_deleted = deleted;
	return 0;
}

int tk_etcd_txn(struct tk_etcd *e, const struct tk_etcd_cmp *cmp, size_t n_cmp,
		const struct tk_etcd_op *success, size_t n_success,
		const struct tk_etcd_op *failure, size_t n_failure, bool *ret_succeeded,
		struct tk_etcd_kvs *ret_kvs, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *req =
		tk_etcd_txn_request(cmp, n_cmp, success, n_success, failure, n_failure);
	_cleanup_(json_decrefp) json_t *resp = NULL;
	struct tk_etcd_kvs kvs = {};
	bool ok;
	int r;

	if (!req)
		return tk_err_set(err, -EINVAL, "etcd: invalid txn (unknown compare or op)");
	if ((r = call(e, "/v3/kv/txn", req, &resp, err)) < 0)
		return r;
	if ((r = tk_etcd_parse_txn(resp, &ok, ret_kvs ? &kvs : NULL, err)) < 0) {
		tk_etcd_kvs_done(&kvs);
		return r;
	}
	*ret_succeeded = ok;
	if (ret_kvs)
		*ret_kvs = kvs;
	return 0;
}

/*
 * The lease requests share one shape: {"<arg>": n} to path, then one integer field of the answer
 * (of its "result" for the keepalive stream); field NULL: none.  ret_resp (may be NULL) keeps
 * the answer.
 */
static int lease_call(struct tk_etcd *e, const char *path, const char *arg, int64_t n,
		      const char *field, int64_t *ret, json_t **ret_resp, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *req = json_pack("{s:o}", arg, int64_json(n));
	_cleanup_(json_decrefp) json_t *resp = NULL;
	json_t *o;
	int r;

	if (!req)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((r = call(e, path, req, &resp, err)) < 0)
		return r;
	o = resp;
	/* A single-object body is one request on the stream: one {"result":...} line, then EOF. */
	if (strcmp(path, "/v3/lease/keepalive") == 0 &&
	    !json_is_object(o = json_object_get(resp, "result")))
		return tk_err_set(err, -EPROTO, "etcd: not a keepalive answer");
	if (field && (r = tk_etcd_json_int(o, field, ret, err)) < 0)
		return r;
	if (ret_resp)
		*ret_resp = TAKE_PTR(resp);
	return 0;
}

int tk_etcd_lease_grant(struct tk_etcd *e, int64_t ttl, int64_t *ret_id, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *resp = NULL;
	int64_t id;
	int r;

	if ((r = lease_call(e, "/v3/lease/grant", "TTL", ttl, "ID", &id, &resp, err)) < 0)
		return r;
	if (id == 0)
		return tk_err_set(err, -EPROTO, "etcd granted no lease: %s",
				  json_string_value(json_object_get(resp, "error")) ?: "no ID");
	*ret_id = id;
	return 0;
}

int tk_etcd_lease_keepalive(struct tk_etcd *e, int64_t id, int64_t *ret_ttl, tk_err *err)
{
	int64_t ttl;
	int r;

	if ((r = lease_call(e, "/v3/lease/keepalive", "ID", id, "TTL", &ttl, NULL, err)) < 0)
		return r;
	if (ttl <= 0)
		return tk_err_set(err, -ENOENT,
				  "etcd lease %" PRIx64 " is gone (expired or revoked)",
				  (uint64_t)id);
	if (ret_ttl)
		*ret_ttl = ttl;
	return 0;
}

int tk_etcd_lease_ttl(struct tk_etcd *e, int64_t id, int64_t *ret_ttl, tk_err *err)
{
	int64_t ttl;
	int r;

	if ((r = lease_call(e, "/v3/lease/timetolive", "ID", id, "TTL", &ttl, NULL, err)) < 0)
		return r;
	if (ttl < 0)
		return tk_err_set(err, -ENOENT, "etcd lease %" PRIx64 " is gone", (uint64_t)id);
	*ret_ttl = ttl;
	return 0;
}

int tk_etcd_lease_revoke(struct tk_etcd *e, int64_t id, tk_err *err)
{
	return lease_call(e, "/v3/lease/revoke", "ID", id, NULL, NULL, NULL, err);
}

static int parse_event(json_t *o, struct tk_etcd_event *ev, tk_err *err)
{
	json_t *prev = json_object_get(o, "prev_kv");
	const char *type = json_string_value(json_object_get(o, "type"));
	int r;

	*ev = (struct tk_etcd_event){};
	/* PUT is type 0, which the gateway leaves out. */
	if (type && strcmp(type, "DELETE") == 0)
		ev->deleted = true;
	else if (type && strcmp(type, "PUT") != 0)
		return tk_err_set(err, -EPROTO, "etcd: unknown watch event type '%s'", type);
	if ((r = parse_kv(json_object_get(o, "kv"), &ev->kv, err)) < 0)
		return r;
	if (prev) {
		if ((r = parse_kv(prev, &ev->prev, err)) < 0) {
			kv_done(&ev->kv);
			return r;
		}
		ev->has_prev = true;
	}
	return 0;
}

int tk_etcd_parse_watch_line(const char *line, size_t len, tk_etcd_watch_cb cb, void *userdata,
			     int64_t *next_revision, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *o = NULL;
	json_t *result, *events, *ev;
	int64_t revision, compact;
	size_t i;
	int r;

	if ((r = tk_json_parse(line, len, "etcd's watch stream", &o, err)) < 0)
		return r;
	result = json_object_get(o, "result");
	if (!json_is_object(result)) {
		json_t *error = json_object_get(o, "error");

		if (error)
			return tk_etcd_http_error(200, line, len, err);
		return tk_err_set(err, -EPROTO, "etcd: a watch message without a result");
	}
	if ((r = header_revision(result, &revision, err)) < 0 ||
	    (r = tk_etcd_json_int(result, "compact_revision", &compact, err)) < 0)
		return r;
	if (json_is_true(json_object_get(result, "canceled"))) {
		if (compact > 0)
			return tk_err_set(err, -ERANGE,
					  "etcd compacted the watched revisions (compact revision "
					  "%" PRId64 "): list again",
					  compact);
		return tk_err_set(err, -ECONNRESET, "etcd canceled the watch: %s",
				  json_string_value(json_object_get(result, "cancel_reason"))
					  ?: "no reason given");
	}
	if (json_is_true(json_object_get(result, "created")))
		return 1;
	events = json_object_get(result, "events");
	json_array_foreach(events, i, ev)
	{
		struct tk_etcd_event event;

		if ((r = parse_event(ev, &event, err)) < 0)
			return r;
		r = cb(&event, userdata);
		if (next_revision && event.kv.mod_revision >= *next_revision)
			*next_revision = event.kv.mod_revision + 1;
		kv_done(&event.kv);
		kv_done(&event.prev);
		if (r)
			return r;
	}
	/* A progress notification: nothing happened up to revision. */
	if (next_revision && json_array_size(events) == 0 && revision >= *next_revision)
		*next_revision = revision + 1;
	return 0;
}

struct watch {
	struct buf line;
	tk_etcd_watch_cb cb;
	void *userdata;
	int64_t *next_revision;
	const volatile bool *stop;
	int r; /* the first non-zero result of a line */
	tk_err *err;
};

static size_t watch_write(char *data, size_t size, size_t n, void *userdata)
{
	struct watch *w = userdata;
	size_t len = size * n;

	if (buf_append(&w->line, data, len) < 0) {
		w->r = tk_err_set(w->err, -ENOMEM, "out of memory");
		return 0;
	}
	for (char *nl; (nl = memchr(w->line.data, '\n', w->line.len));) {
		size_t l = (size_t)(nl - w->line.data);
		int r = l ? tk_etcd_parse_watch_line(w->line.data, l, w->cb, w->userdata,
						     w->next_revision, w->err)
			  : 0;

		memmove(w->line.data, nl + 1, w->line.len - l - 1);
		w->line.len -= l + 1;
		if (r < 0) {
			w->r = r;
			return 0;
		}
	}
	return len;
}

static int watch_progress(void *userdata, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct watch *w = userdata;

	(void)a, (void)b, (void)c, (void)d;
	return w->stop && *w->stop;
}

int tk_etcd_watch(struct tk_etcd *e, const char *key, bool prefix, int64_t start_revision,
		  tk_etcd_watch_cb cb, void *userdata, const volatile bool *stop,
		  int64_t *next_revision, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *req = tk_etcd_watch_request(key, prefix, start_revision);
	_cleanup_(tk_json_text_freep) char *body = NULL;
	int64_t next = start_revision;
	struct watch w = { .cb = cb, .userdata = userdata, .stop = stop, .err = err };
	struct curl_slist *headers;
	char url[512];
	long status = 0;
	CURLcode c;

	if (!req || !(body = json_dumps(req, JSON_COMPACT)))
		return tk_err_set(err, -ENOMEM, "out of memory");
	w.next_revision = next_revision ? next_revision : &next;
	if (*w.next_revision < start_revision)
		*w.next_revision = start_revision;
	snprintf(url, sizeof(url), "%s/v3/watch", e->endpoints[e->current]);
	headers = curl_slist_append(NULL, "Content-Type: application/json");
	setup_post(e->curl, url, body, headers);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)e->timeout_ms);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, watch_progress);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, &w);
	curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
	/* A dead peer is noticed by TCP keepalive, not by a deadline on the stream. */
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPIDLE, 5L);
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPINTVL, 2L);
	c = curl_easy_perform(e->curl);
	curl_slist_free_all(headers);
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (w.r) {
		buf_done(&w.line);
		return w.r;
	}
	if (c == CURLE_ABORTED_BY_CALLBACK) {
		buf_done(&w.line);
		return tk_err_set(err, -ECANCELED, "watch stopped");
	}
	if (status != 0 && status != 200) {
		int r = tk_etcd_http_error(status, w.line.data, w.line.len, err);
		buf_done(&w.line);
		return r;
	}
	buf_done(&w.line);
	if (c != CURLE_OK) {
		/* Next time, another endpoint. */
		e->current = (e->current + 1) % e->n_endpoints;
		return curl_error(c, url, err);
	}
	e->current = (e->current + 1) % e->n_endpoints;
	return tk_err_set(err, -ECONNRESET, "etcd at '%s' ended the watch stream", url);
}
