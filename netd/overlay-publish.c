/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * This host's endpoint records reach etcd from a thread of their own (docs/cluster.md, "Endpoint
 * records").  overlay.c decides what to write under the state lock and queues it here; the
 * writes themselves (a round trip to etcd each, seconds each while etcd is away) must not hold
 * up the loop, where every other request waits.  Writes go in the order they were queued, so a
 * put and the delete after it for the same key land in that order.  Those queued within a few
 * milliseconds go as one transaction: a burst of attaches, or a runtime's one after another,
 * then costs etcd and every host's watch one revision instead of one each.  A write that fails
 * is remembered and the loop is woken (at most once a second) to queue it again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd.h"
#include "json.h"
#include "log.h"
#include "netd.h"

struct pub_op {
	struct pub_op *next;
	char *key;
	char *value; /* NULL: delete */
	int64_t lease;
};

static struct {
	pthread_mutex_t lock; /* over what follows */
	pthread_cond_t cond;
	struct pub_op *head, *tail;
	json_t *failed; /* key -> true: its put failed, false: its delete */
	bool stop, running, logged;
	pthread_t thread;
	struct tk_etcd *etcd; /* the thread's */
	int wake_fd;
} pub = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .wake_fd = -1 };

static void op_free(struct pub_op *op)
{
	free(op->key);
	free(op->value);
	free(op);
}

#define BATCH_WAIT_MS 5
#define BATCH_MAX     64 /* etcd's --max-txn-ops is 128 by default */

/* Locked: ms milliseconds, or until stop. */
static void pause_locked(unsigned ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	until.tv_sec += ms / 1000 + until.tv_nsec / 1000000000;
	until.tv_nsec %= 1000000000;
	while (!pub.stop && pthread_cond_timedwait(&pub.cond, &pub.lock, &until) == 0)
		;
}

/* Locked: the oldest writes, up to one of a key etcd already has in the batch (it refuses two). */
static size_t batch_take_locked(struct pub_op **batch)
{
	size_t n = 0;

	while (pub.head && n < BATCH_MAX) {
		struct pub_op *op = pub.head;

		for (size_t i = 0; i < n; i++)
			if (strcmp(batch[i]->key, op->key) == 0)
				return n;
		if (!(pub.head = op->next))
			pub.tail = NULL;
		batch[n++] = op;
	}
	return n;
}

static void failed_locked(const struct pub_op *op, const tk_err *err)
{
	if (!pub.failed)
		pub.failed = json_object();
	json_object_set_new(pub.failed, op->key, json_boolean(op->value != NULL));
	if (!pub.logged) /* once per outage */
		log_error("overlay: cannot %s '%s': %s (again later)",
			  op->value ? "publish" : "withdraw", op->key, err->msg);
	pub.logged = true;
}

static void *publisher_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&pub.lock);
	while (!pub.stop) {
		struct pub_op *batch[BATCH_MAX];
		struct tk_etcd_op ops[BATCH_MAX];
		tk_err err = {};
		bool again, ok;
		size_t n;
		int r;

		if (!pub.head) {
			pthread_cond_wait(&pub.cond, &pub.lock);
			continue;
		}
		pause_locked(BATCH_WAIT_MS); /* what else comes meanwhile goes along */
		if (pub.stop)
			break;
		n = batch_take_locked(batch);
		pthread_mutex_unlock(&pub.lock);
		for (size_t i = 0; i < n; i++)
			ops[i] = (struct tk_etcd_op){
				.kind = batch[i]->value ? TK_ETCD_OP_PUT : TK_ETCD_OP_DELETE,
				.key = batch[i]->key,
				.value = batch[i]->value,
				.lease = batch[i]->lease,
			};
		r = tk_etcd_txn(pub.etcd, NULL, 0, ops, n, NULL, 0, &ok, NULL, &err);
		pthread_mutex_lock(&pub.lock);
		for (size_t i = 0; i < n; i++) {
			if (r < 0)
				failed_locked(batch[i], &err);
			op_free(batch[i]);
		}
		if (r >= 0)
			pub.logged = false;
		again = r < 0 && !pub.head;
		if (again)
			pause_locked(1000);
		if (again && !pub.stop) {
			uint64_t one = 1;
			(void)!write(pub.wake_fd, &one, sizeof(one));
		}
	}
	pthread_mutex_unlock(&pub.lock);
	return NULL;
}

int overlay_publisher_start(const char *endpoints, unsigned timeout_ms, int wake_fd, tk_err *err)
{
	int r;

	if ((r = tk_etcd_open(endpoints, timeout_ms, &pub.etcd, err)) < 0)
		return r;
	pub.wake_fd = wake_fd;
	pub.stop = false;
	if ((r = pthread_create(&pub.thread, NULL, publisher_main, NULL)) != 0) {
		pub.etcd = tk_etcd_close(pub.etcd);
		return tk_err_set(err, -r, "cannot start the overlay's publishing thread");
	}
	pub.running = true;
	return 0;
}

/* What is still queued is dropped: the keys carry the host lease, which goes with netd. */
void overlay_publisher_stop(void)
{
	pthread_mutex_lock(&pub.lock);
	pub.stop = true;
	pthread_cond_signal(&pub.cond);
	pthread_mutex_unlock(&pub.lock);
	if (pub.running)
		pthread_join(pub.thread, NULL);
	pub.running = false;
	while (pub.head) {
		struct pub_op *next = pub.head->next;
		op_free(pub.head);
		pub.head = next;
	}
	pub.tail = NULL;
	json_decref(pub.failed);
	pub.failed = NULL;
	pub.etcd = tk_etcd_close(pub.etcd);
}

int overlay_publish(const char *key, const char *value, int64_t lease)
{
	struct pub_op *op = calloc(1, sizeof(*op));

	if (!op || !(op->key = strdup(key)) || (value && !(op->value = strdup(value)))) {
		if (op)
			op_free(op);
		return -ENOMEM;
	}
	op->lease = lease;
	pthread_mutex_lock(&pub.lock);
	if (pub.failed)
		json_object_del(pub.failed, key); /* this write supersedes the one that failed */
	if (pub.tail)
		pub.tail->next = op;
	else
		pub.head = op;
	pub.tail = op;
	pthread_cond_signal(&pub.cond);
	pthread_mutex_unlock(&pub.lock);
	return 0;
}

json_t *overlay_publish_failed(void)
{
	json_t *failed;

	pthread_mutex_lock(&pub.lock);
	failed = pub.failed;
	pub.failed = NULL;
	pthread_mutex_unlock(&pub.lock);
	return failed;
}
