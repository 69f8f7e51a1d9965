/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
/*
 * A small etcd v3 client over etcd's JSON gateway (etcd 3.4: POST /v3/kv/range, /v3/kv/txn,
 * /v3/lease/grant, /v3/watch, ...), with libcurl and jansson: no maintained C client speaks v3,
 * and gRPC from C is not a stable API.  The gateway's conventions: keys and values are base64,
 * 64-bit integers are JSON strings, fields with zero values are omitted (a lost txn has no
 * "succeeded", a PUT event no "type", a dead lease's keepalive no "TTL"), unknown request fields
 * are ignored (so the request builders are unit-tested), errors are a non-200 status with
 * {"error","message","code"}, and streams are newline-separated {"result":{...}} objects.
 *
 * Not thread-safe per handle: a thread that watches or keeps a lease alive opens its own.
 * Errors: -ECONNREFUSED when no endpoint answers, -ETIMEDOUT, -EPROTO for a reply that is not
 * what the gateway sends, -ENOENT for a lease etcd does not know, -EIO for other HTTP errors;
 * the message names the endpoint and etcd's own words.  lib/ never logs above debug.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

struct tk_etcd;

struct tk_etcd_kv {
	char *key;   /* NUL-terminated (tenantkit's keys are text) */
	char *value; /* NUL-terminated copy; value_len excludes the NUL */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct tk_etcd_kvs {
	struct tk_etcd_kv *kv;
	size_t n;
	int64_t revision; /* the store's revision the answer is from (header.revision) */
};
void tk_etcd_kvs_done(struct tk_etcd_kvs *kvs);

/*
 * endpoints: "http://HOST:PORT[,http://HOST:PORT...]"; each request tries them in order from the
 * last one that answered.  timeout_ms bounds each unary request (connect included).
 */
int tk_etcd_open(const char *endpoints, unsigned timeout_ms, struct tk_etcd **ret, tk_err *err);
struct tk_etcd *tk_etcd_close(struct tk_etcd *e);
static inline void tk_etcd_closep(struct tk_etcd **e)
{
	tk_etcd_close(*e);
}
/* The endpoint that answered last (or the first). */
const char *tk_etcd_endpoint(const struct tk_etcd *e);

/* key, or with prefix every key that starts with key. */
int tk_etcd_get(struct tk_etcd *e, const char *key, bool prefix, struct tk_etcd_kvs *ret,
		tk_err *err);
/* lease 0: none.  ret_revision may be NULL. */
int tk_etcd_put(struct tk_etcd *e, const char *key, const char *value, int64_t lease,
		int64_t *ret_revision, tk_err *err);
/* ret_deleted (may be NULL): how many keys went. */
int tk_etcd_delete(struct tk_etcd *e, const char *key, bool prefix, int64_t *ret_deleted,
		   tk_err *err);

enum tk_etcd_target {
	TK_ETCD_VERSION,
	TK_ETCD_CREATE,
	TK_ETCD_MOD,
	TK_ETCD_VALUE,
	TK_ETCD_LEASE,
	_TK_ETCD_TARGET_MAX,
};

enum tk_etcd_result {
	TK_ETCD_EQUAL,
	TK_ETCD_NOT_EQUAL,
	TK_ETCD_GREATER,
	TK_ETCD_LESS,
	_TK_ETCD_RESULT_MAX,
};

/*
 * One compare of a txn.  With prefix it holds for every key under key, and for an empty range
 * it is evaluated against a key with all zero fields: {CREATE, EQUAL, 0} over a prefix means
 * "no key under it".
 */
struct tk_etcd_cmp {
	const char *key;
	bool prefix;
	enum tk_etcd_target target;
	enum tk_etcd_result result;
	int64_t number;	   /* version, create/mod revision or lease */
	const char *value; /* TK_ETCD_VALUE */
};

enum tk_etcd_op_kind {
	TK_ETCD_OP_GET,
	TK_ETCD_OP_PUT,
	TK_ETCD_OP_DELETE,
	_TK_ETCD_OP_MAX,
};

struct tk_etcd_op {
	enum tk_etcd_op_kind kind;
	const char *key;
	bool prefix;	   /* GET, DELETE */
	const char *value; /* PUT */
	int64_t lease;	   /* PUT; 0: none */
};

/*
 * If every compare holds, the success ops, else the failure ops, atomically.  *ret_succeeded
 * says which; ret_kvs (may be NULL) gets the keys the GET ops of the branch taken read, in order.
 */
int tk_etcd_txn(struct tk_etcd *e, const struct tk_etcd_cmp *cmp, size_t n_cmp,
		const struct tk_etcd_op *success, size_t n_success,
		const struct tk_etcd_op *failure, size_t n_failure, bool *ret_succeeded,
		struct tk_etcd_kvs *ret_kvs, tk_err *err);

int tk_etcd_lease_grant(struct tk_etcd *e, int64_t ttl, int64_t *ret_id, tk_err *err);
/* One renewal; -ENOENT when the lease is gone (expired or revoked). */
int tk_etcd_lease_keepalive(struct tk_etcd *e, int64_t id, int64_t *ret_ttl, tk_err *err);
/* Seconds left; -ENOENT when the lease is gone. */
int tk_etcd_lease_ttl(struct tk_etcd *e, int64_t id, int64_t *ret_ttl, tk_err *err);
int tk_etcd_lease_revoke(struct tk_etcd *e, int64_t id, tk_err *err);

struct tk_etcd_event {
	bool deleted; /* else a put */
	struct tk_etcd_kv kv;
	bool has_prev;
	struct tk_etcd_kv prev; /* the value before, when the watch asked for it */
};

/* Returns 0 to go on, a negative errno to stop the watch (tk_etcd_watch returns it). */
typedef int (*tk_etcd_watch_cb)(const struct tk_etcd_event *ev, void *userdata);

/*
 * Streams the changes of key (prefix: of every key under it) from start_revision on (0: from
 * now), with the previous values, calling cb for each event in order, until cb returns a negative errno
 * (returned), *stop becomes true (checked about once a second; returns -ECANCELED), or the
 * stream fails.  *next_revision (in/out, may be NULL) is where a new watch resumes without loss
 * or repetition.  -ERANGE when start_revision was compacted away: list again and start after
 * the list's revision.
 */
int tk_etcd_watch(struct tk_etcd *e, const char *key, bool prefix, int64_t start_revision,
		  tk_etcd_watch_cb cb, void *userdata, const volatile bool *stop,
		  int64_t *next_revision, tk_err *err);

/* Pure encoders and decoders, exposed for the unit tests. */
char *tk_etcd_b64_encode(const void *data, size_t len);
/* -EINVAL for text that is not padded standard base64; the result is NUL-terminated. */
int tk_etcd_b64_decode(const char *text, char **ret, size_t *ret_len, tk_err *err);
/* The range_end of a prefix (base64): the prefix with its last byte below 0xff incremented. */
char *tk_etcd_prefix_end_b64(const char *prefix);
/* A JSON integer, or a string of one as the gateway sends int64s; absent: 0. */
int tk_etcd_json_int(json_t *o, const char *field, int64_t *ret, tk_err *err);
json_t *tk_etcd_range_request(const char *key, bool prefix);
json_t *tk_etcd_txn_request(const struct tk_etcd_cmp *cmp, size_t n_cmp,
			    const struct tk_etcd_op *success, size_t n_success,
			    const struct tk_etcd_op *failure, size_t n_failure);
json_t *tk_etcd_watch_request(const char *key, bool prefix, int64_t start_revision);
/* Appends the "kvs" of a range response to ret (its revision from the header). */
int tk_etcd_parse_kvs(json_t *resp, struct tk_etcd_kvs *ret, tk_err *err);
int tk_etcd_parse_txn(json_t *resp, bool *ret_succeeded, struct tk_etcd_kvs *ret_kvs, tk_err *err);
/* The error of a non-200 reply: etcd's message and gRPC code, mapped to an errno. */
int tk_etcd_http_error(long status, const char *body, size_t len, tk_err *err);
/*
 * One line of a watch stream: calls cb per event and moves *next_revision past them.
 * 1 when the line was the watch's "created" answer, -ERANGE (compact revision in the message)
 * when etcd canceled it.
 */
int tk_etcd_parse_watch_line(const char *line, size_t len, tk_etcd_watch_cb cb, void *userdata,
			     int64_t *next_revision, tk_err *err);
