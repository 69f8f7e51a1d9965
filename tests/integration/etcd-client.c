/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Drives lib/etcd against a real etcd (test-etcd.sh starts one inside the test's namespace):
 *   etcd-client ENDPOINTS all          every call, checked; prints "ok N - ..." lines
 *   etcd-client ENDPOINTS watch-from R a watch from revision R: prints the error, exits 1
 *   etcd-client ENDPOINTS get KEY      prints the value; exits 1 with the error
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "etcd.h"

static int passed, failed;
static const char *endpoints;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			printf("ok %d - ", ++passed);                                              \
		} else {                                                                           \
			failed++;                                                                  \
			printf("FAIL (line %d) - ", __LINE__);                                     \
		}                                                                                  \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
	} while (0)

struct watcher {
	int64_t start, next;
	int n;
	char seen[8][128];
	volatile bool stop;
	int r;
	tk_err err;
};

static int on_event(const struct tk_etcd_event *ev, void *userdata)
{
	struct watcher *w = userdata;

	if (w->n < 8)
		snprintf(w->seen[w->n], sizeof(w->seen[0]), "%s %s=%s prev=%s",
			 ev->deleted ? "DEL" : "PUT", ev->kv.key, ev->kv.value,
			 ev->has_prev ? ev->prev.value : "-");
	w->n++;
	return w->n >= 3 ? -EINTR : 0;
}

static void *watch_thread(void *userdata)
{
	struct watcher *w = userdata;
	struct tk_etcd *e = NULL;

	if (tk_etcd_open(endpoints, 2000, &e, &w->err) < 0) {
		w->r = -1;
		return NULL;
	}
	w->r = tk_etcd_watch(e, "/w/", true, w->start, on_event, w, &w->stop, &w->next, &w->err);
	tk_etcd_close(e);
	return NULL;
}

static void check_kv(struct tk_etcd *e)
{
	struct tk_etcd_kvs kvs = {};
	int64_t rev = 0, deleted = 0;
	tk_err err = {};
	int r;

	r = tk_etcd_put(e, "/t/a", "alpha", 0, &rev, &err);
	CHECK(r == 0 && rev > 0, "put /t/a (revision %" PRId64 ") %s", rev, err.msg);
	r = tk_etcd_put(e, "/t/b", "", 0, NULL, &err);
	CHECK(r == 0, "put an empty value");
	r = tk_etcd_put(e, "/t0", "outside", 0, NULL, &err);
	CHECK(r == 0, "put /t0");
	r = tk_etcd_get(e, "/t/a", false, &kvs, &err);
	CHECK(r == 0 && kvs.n == 1 && strcmp(kvs.kv[0].value, "alpha") == 0 &&
		      kvs.kv[0].version == 1 && kvs.kv[0].create_revision == rev,
	      "get /t/a");
	tk_etcd_kvs_done(&kvs);
	r = tk_etcd_get(e, "/t/", true, &kvs, &err);
	CHECK(r == 0 && kvs.n == 2 && strcmp(kvs.kv[1].key, "/t/b") == 0 &&
		      kvs.kv[1].value_len == 0 && kvs.revision >= rev,
	      "prefix /t/ holds /t/a and /t/b, not /t0 (%zu keys)", kvs.n);
	tk_etcd_kvs_done(&kvs);
	r = tk_etcd_get(e, "/nothing", false, &kvs, &err);
	CHECK(r == 0 && kvs.n == 0, "get of a missing key: no keys, no error");
	tk_etcd_kvs_done(&kvs);
	r = tk_etcd_delete(e, "/t/", true, &deleted, &err);
	CHECK(r == 0 && deleted == 2, "delete prefix /t/ (%" PRId64 " deleted)", deleted);
	r = tk_etcd_get(e, "/t0", false, &kvs, &err);
	CHECK(r == 0 && kvs.n == 1, "the key beside the prefix stays");
	tk_etcd_kvs_done(&kvs);
}

static void check_txn(struct tk_etcd *e)
{
	const struct tk_etcd_cmp absent = { .key = "/x/k",
					    .target = TK_ETCD_CREATE,
					    .result = TK_ETCD_EQUAL };
	const struct tk_etcd_op put = { .kind = TK_ETCD_OP_PUT, .key = "/x/k", .value = "one" };
	const struct tk_etcd_op put2 = { .kind = TK_ETCD_OP_PUT, .key = "/x/k", .value = "two" };
	const struct tk_etcd_op get = { .kind = TK_ETCD_OP_GET, .key = "/x/k" };
	const struct tk_etcd_cmp empty = {
		.key = "/u/", .prefix = true, .target = TK_ETCD_CREATE, .result = TK_ETCD_EQUAL
	};
	struct tk_etcd_kvs kvs = {};
	bool ok = false;
	tk_err err = {};
	int r;

	r = tk_etcd_txn(e, &absent, 1, &put, 1, &get, 1, &ok, &kvs, &err);
	CHECK(r == 0 && ok && kvs.n == 0, "txn create-if-absent wins");
	tk_etcd_kvs_done(&kvs);
	r = tk_etcd_txn(e, &absent, 1, &put2, 1, &get, 1, &ok, &kvs, &err);
	CHECK(r == 0 && !ok && kvs.n == 1 && strcmp(kvs.kv[0].value, "one") == 0,
	      "the second create-if-absent loses and reads the winner's value");
	{
		struct tk_etcd_cmp mod = { .key = "/x/k",
					   .target = TK_ETCD_MOD,
					   .result = TK_ETCD_EQUAL,
					   .number = kvs.n ? kvs.kv[0].mod_revision : 0 };
		struct tk_etcd_cmp ver = { .key = "/x/k",
					   .target = TK_ETCD_VERSION,
					   .result = TK_ETCD_EQUAL,
					   .number = 1 };
		struct tk_etcd_cmp val = { .key = "/x/k",
					   .target = TK_ETCD_VALUE,
					   .result = TK_ETCD_EQUAL,
					   .value = "one" };
		struct tk_etcd_cmp all[] = { mod, ver, val };

		r = tk_etcd_txn(e, all, 3, &put2, 1, NULL, 0, &ok, NULL, &err);
		CHECK(r == 0 && ok, "txn on mod_revision, version and value");
		r = tk_etcd_txn(e, &mod, 1, &put, 1, NULL, 0, &ok, NULL, &err);
		CHECK(r == 0 && !ok, "a stale mod_revision loses");
	}
	tk_etcd_kvs_done(&kvs);
	r = tk_etcd_txn(e, &empty, 1, NULL, 0, NULL, 0, &ok, NULL, &err);
	CHECK(r == 0 && ok, "'no key under /u/' holds for an empty prefix");
	tk_etcd_put(e, "/u/h1", "", 0, NULL, NULL);
	r = tk_etcd_txn(e, &empty, 1, NULL, 0, NULL, 0, &ok, NULL, &err);
	CHECK(r == 0 && !ok, "and fails once a key is under it");
}

static void check_leases(struct tk_etcd *e)
{
	struct tk_etcd_kvs kvs = {};
	int64_t id = 0, ttl = 0;
	tk_err err = {};
	bool ok = false;
	int r;

	r = tk_etcd_lease_grant(e, 2, &id, &err);
	CHECK(r == 0 && id != 0, "lease grant (%" PRIx64 ") %s", (uint64_t)id, err.msg);
	r = tk_etcd_put(e, "/l/k", "leased", id, NULL, &err);
	CHECK(r == 0, "put with the lease");
	{
		struct tk_etcd_cmp fence = { .key = "/l/k",
					     .target = TK_ETCD_LEASE,
					     .result = TK_ETCD_EQUAL,
					     .number = id };
		r = tk_etcd_txn(e, &fence, 1, NULL, 0, NULL, 0, &ok, NULL, &err);
		CHECK(r == 0 && ok, "LEASE compare holds while the lease lives");
	}
	for (int i = 0; i < 3; i++) {
		sleep(1);
		r = tk_etcd_lease_keepalive(e, id, &ttl, &err);
	}
	CHECK(r == 0 && ttl == 2, "keepalive renews (TTL %" PRId64 ") %s", ttl, err.msg);
	r = tk_etcd_get(e, "/l/k", false, &kvs, &err);
	CHECK(r == 0 && kvs.n == 1 && kvs.kv[0].lease == id,
	      "the key outlives its TTL with keepalives");
	tk_etcd_kvs_done(&kvs);
	r = tk_etcd_lease_ttl(e, id, &ttl, &err);
	CHECK(r == 0 && ttl >= 0 && ttl <= 2, "time to live %" PRId64, ttl);
	r = tk_etcd_lease_revoke(e, id, &err);
	CHECK(r == 0, "revoke %s", err.msg);
	r = tk_etcd_get(e, "/l/k", false, &kvs, &err);
	CHECK(r == 0 && kvs.n == 0, "revoking deletes the lease's keys");
	tk_etcd_kvs_done(&kvs);
	r = tk_etcd_lease_keepalive(e, id, &ttl, &err);
	CHECK(r == -ENOENT, "keepalive of a revoked lease: -ENOENT (%s)", err.msg);
	r = tk_etcd_lease_ttl(e, id, &ttl, &err);
	CHECK(r == -ENOENT, "time to live of a revoked lease: -ENOENT");
	r = tk_etcd_put(e, "/l/k", "x", id, NULL, &err);
	CHECK(r == -ENOENT && strstr(err.msg, "lease not found"),
	      "put with an unknown lease: etcd's error (%s)", err.msg);
	/* Expiry without keepalive. */
	r = tk_etcd_lease_grant(e, 2, &id, &err);
	CHECK(r == 0, "grant a 2 s lease (%s)", err.msg);
	tk_etcd_put(e, "/l/e", "x", id, NULL, &err);
	sleep(4);
	r = tk_etcd_get(e, "/l/e", false, &kvs, &err);
	CHECK(r == 0 && kvs.n == 0, "an expired lease's key is gone");
	tk_etcd_kvs_done(&kvs);
}

static void check_watch(struct tk_etcd *e)
{
	struct watcher w = {};
	struct tk_etcd_kvs kvs = {};
	pthread_t t;
	tk_err err = {};

	tk_etcd_get(e, "/w/", true, &kvs, &err);
	w.start = kvs.revision + 1;
	tk_etcd_kvs_done(&kvs);
	/* Events before the watch starts are delivered: it resumes from a revision. */
	tk_etcd_put(e, "/w/a", "1", 0, NULL, NULL);
	pthread_create(&t, NULL, watch_thread, &w);
	tk_etcd_put(e, "/other", "x", 0, NULL, NULL);
	tk_etcd_put(e, "/w/a", "2", 0, NULL, NULL);
	tk_etcd_delete(e, "/w/a", false, NULL, NULL);
	pthread_join(t, NULL);
	CHECK(w.r == -EINTR && w.n == 3, "watch saw 3 events (%d, r=%d %s)", w.n, w.r, w.err.msg);
	CHECK(strcmp(w.seen[0], "PUT /w/a=1 prev=-") == 0, "%s", w.seen[0]);
	CHECK(strcmp(w.seen[1], "PUT /w/a=2 prev=1") == 0, "%s", w.seen[1]);
	CHECK(strcmp(w.seen[2], "DEL /w/a= prev=2") == 0, "%s", w.seen[2]);
	/* Resuming at next_revision repeats nothing and loses nothing. */
	tk_etcd_put(e, "/w/b", "3", 0, NULL, NULL);
	w.start = w.next;
	w.n = 0;
	pthread_create(&t, NULL, watch_thread, &w);
	tk_etcd_put(e, "/w/c", "4", 0, NULL, NULL);
	tk_etcd_put(e, "/w/d", "5", 0, NULL, NULL);
	pthread_join(t, NULL);
	CHECK(w.n == 3 && strcmp(w.seen[0], "PUT /w/b=3 prev=-") == 0 &&
		      strcmp(w.seen[2], "PUT /w/d=5 prev=-") == 0,
	      "resumed watch: %s, %s, %s", w.seen[0], w.seen[1], w.seen[2]);
	/* stop ends a watch that sees nothing. */
	w = (struct watcher){ .start = 0 };
	pthread_create(&t, NULL, watch_thread, &w);
	sleep(1);
	w.stop = true;
	pthread_join(t, NULL);
	CHECK(w.r == -ECANCELED, "a watch stops on request (%d)", w.r);
}

int main(int argc, char **argv)
{
	_cleanup_(tk_etcd_closep) struct tk_etcd *e = NULL;
	tk_err err = {};
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: etcd-client ENDPOINTS all|watch-from REV|get KEY\n");
		return 2;
	}
	endpoints = argv[1];
	if (tk_etcd_open(endpoints, 2000, &e, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	if (strcmp(argv[2], "get") == 0 && argc == 4) {
		struct tk_etcd_kvs kvs = {};

		if ((r = tk_etcd_get(e, argv[3], false, &kvs, &err)) < 0) {
			printf("error %d: %s\n", r, err.msg);
			return 1;
		}
		printf("%s\n", kvs.n ? kvs.kv[0].value : "");
		tk_etcd_kvs_done(&kvs);
		return 0;
	}
	if (strcmp(argv[2], "watch-from") == 0 && argc == 4) {
		struct watcher w = { .start = strtoll(argv[3], NULL, 10) };

		watch_thread(&w);
		printf("error %d: %s\n", w.r, w.err.msg);
		return 1;
	}
	check_kv(e);
	check_txn(e);
	check_leases(e);
	check_watch(e);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
