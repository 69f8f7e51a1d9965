/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Deleting a veth takes the kernel some 20 ms (it waits for RCU grace periods before the device
 * is gone), most of it idle.  A runtime's DEL does not need to wait for that: once the database
 * row and the firewall elements are gone, the veth is already cut off (the bridge table drops
 * anything from a tkv* port that is not in @ports), so netd replies and this thread deletes the
 * link.  A crash loses the queue, not the cleanup: reconcile removes tkv links the database does
 * not know.
 *
 * The kernel waits for RCU once per deletion request (rcu_barrier() in netdev_run_todo), 10 to
 * 30 ms where grace periods are slow, whatever the number of links the request deletes.  So the
 * thread takes what is queued at once: it moves each link into REAPER_GROUP, a device group netd
 * gives nothing else, and deletes the group in one request.  One by one, 400 detaches queued
 * more than 10 s of deletions, which an attach into a netns whose previous interface was among
 * them (reaper_drain) then waited for.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netd.h"
#include "nl.h"

/* A device group for links about to go: netd's networks are groups 1 to 2^31 - 1. */
#define REAPER_GROUP 0xfffffff0u
#define REAPER_BATCH 256

struct reaper {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct tk_nl *nl; /* the thread's own socket, in netd's netns */
	char (*names)[TK_IFNAME_MAX + 1];
	size_t head, n, size;
	size_t busy; /* links of the batch being deleted */
	bool stopping;
	bool one_by_one; /* another program's link is in REAPER_GROUP: no batches */
};

/*
 * Deletes the batch of links: one request for all that could be moved into REAPER_GROUP.  False
 * when the group cannot be deleted (then the links went one by one, and so will the next).
 */
static bool reap(struct tk_nl *nl, char (*names)[TK_IFNAME_MAX + 1], size_t n, bool one_by_one)
{
	size_t grouped = 0;
	tk_err err = {};
	int q;

	for (size_t i = 0; i < n; i++) {
		q = one_by_one ? -EPERM
			       : tk_nl_link_set_group_by_name(nl, names[i], REAPER_GROUP, &err);
		if (q >= 0)
			grouped++;
		else if (q != -ENODEV && (q = tk_nl_link_del(nl, names[i], &err)) < 0 &&
			 q != -ENODEV)
			log_error("Cannot delete '%s': %s; the next reconcile will", names[i],
				  err.msg);
		tk_err_clear(&err);
	}
	if (grouped == 0)
		return true;
	q = tk_nl_group_del(nl, REAPER_GROUP, &err);
	if (q >= 0 || q == -ENODEV) {
		log_debug("Deleted %zu veth(s)", grouped);
		return true;
	}
	/* A NIC someone put into the group (-EOPNOTSUPP): ours go one by one, from now on. */
	log_warning("Deleting device group %u, ignoring: %s; deleting veths one by one",
		    REAPER_GROUP, err.msg);
	for (size_t i = 0; i < n; i++)
		if ((q = tk_nl_link_del(nl, names[i], &err)) < 0 && q != -ENODEV)
			log_error("Cannot delete '%s': %s; the next reconcile will", names[i],
				  err.msg);
	return false;
}

static void *reaper_main(void *userdata)
{
	struct reaper *r = userdata;
	char batch[REAPER_BATCH][TK_IFNAME_MAX + 1];

	pthread_mutex_lock(&r->lock);
	for (;;) {
		bool one_by_one;
		size_t n;

		while (r->n == 0 && !r->stopping)
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->n == 0)
			break; /* stopping, and nothing left to do */
		n = r->n < REAPER_BATCH ? r->n : REAPER_BATCH;
		for (size_t i = 0; i < n; i++)
			memcpy(batch[i], r->names[(r->head + i) % r->size], sizeof(batch[i]));
		r->head = (r->head + n) % r->size;
		r->n -= n;
		r->busy = n;
		pthread_mutex_unlock(&r->lock);
		(void)fault_point("reaper", NULL);
		one_by_one = !reap(r->nl, batch, n, r->one_by_one);
		pthread_mutex_lock(&r->lock);
		r->one_by_one |= one_by_one;
		r->busy = 0;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* A link not netd's in REAPER_GROUP would be deleted with netd's: then none is put there. */
static int foreign_in_group(const struct tk_link_info *link, void *userdata)
{
	bool *found = userdata;

	if (link->group == REAPER_GROUP && strncmp(link->name, "tk", 2) != 0) {
		log_warning("Interface '%s' is in device group %u, which netd uses to delete its "
			    "veths in batches: netd deletes them one by one",
			    link->name, REAPER_GROUP);
		*found = true;
	}
	return 0;
}

/* Called by every reconcile, the first before netd serves: nothing is queued before it. */
void reaper_check_links(struct manager *m, const struct tk_link_list *links)
{
	struct reaper *r = m->reaper;
	bool found = false;

	(void)tk_link_list_foreach(links, "", foreign_in_group, &found);
	if (!r || !found)
		return;
	pthread_mutex_lock(&r->lock);
	r->one_by_one = true;
	pthread_mutex_unlock(&r->lock);
}

int reaper_start(struct manager *m, tk_err *err)
{
	struct reaper *r = calloc(1, sizeof(*r));
	sigset_t all, old;
	int q;

	if (!r)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if ((q = tk_nl_open(&r->nl, err)) < 0) {
		free(r);
		return q;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	/* Signals are the main loop's (signalfd): the thread starts with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	q = pthread_create(&r->thread, NULL, reaper_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (q != 0) {
		tk_nl_close(r->nl);
		free(r);
		return tk_err_set(err, -q, "cannot start the veth reaper: %s", strerror(q));
	}
	m->reaper = r;
	return 0;
}

/* Grows the ring, keeping its order. */
static int grow(struct reaper *r)
{
	size_t size = r->size ? r->size * 2 : 64;
	char(*names)[TK_IFNAME_MAX + 1] = malloc(size * sizeof(*names));

	if (!names)
		return -ENOMEM;
	assert(r->n <= r->size);
	for (size_t i = 0; i < r->n; i++)
		memcpy(names[i], r->names[(r->head + i) % r->size], sizeof(names[0]));
	free(r->names);
	r->names = names;
	r->head = 0;
	r->size = size;
	return 0;
}

void reaper_queue(struct manager *m, const char *ifname)
{
	struct reaper *r = m->reaper;
	tk_err err = {};

	if (r) {
		pthread_mutex_lock(&r->lock);
		if (r->n < r->size || grow(r) == 0) {
			snprintf(r->names[(r->head + r->n) % r->size], sizeof(r->names[0]), "%s",
				 ifname);
			r->n++;
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lock);
			return;
		}
		pthread_mutex_unlock(&r->lock);
	}
	/* No thread or no memory: do it now. */
	if (tk_nl_link_del(m->nl, ifname, &err) < 0 && err.code != -ENODEV)
		log_error("Cannot delete '%s': %s", ifname, err.msg);
}

bool reaper_drain(struct manager *m)
{
	struct reaper *r = m->reaper;
	bool waited = false;

	if (!r)
		return false;
	pthread_mutex_lock(&r->lock);
	while (r->n > 0 || r->busy) {
		waited = true;
		pthread_cond_wait(&r->cond, &r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return waited;
}

size_t reaper_pending(struct manager *m)
{
	struct reaper *r = m->reaper;
	size_t n;

	if (!r)
		return 0;
	pthread_mutex_lock(&r->lock);
	n = r->n + r->busy;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void reaper_stop(struct manager *m)
{
	struct reaper *r = m->reaper;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL); /* after the queue is empty */
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	tk_nl_close(r->nl);
	free(r->names);
	free(r);
	m->reaper = NULL;
}
