/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Containers that go away without a DEL reaching netd.
 *
 * The kernel knows when a container is gone: destroying its network namespace deletes the veth
 * pair with it, and the host end's RTM_DELLINK arrives here.  netd then releases the endpoint
 * (row, addresses, nftables elements) as if the runtime had sent DEL, so no runtime bug (DEL
 * never sent, GC never called, DEL sent while netd was down) leaks addresses.  A container whose
 * netns still exists keeps its veth and is never released.  netd's own DEL deletes the row
 * before the reaper deletes the veth, so its notification finds nothing to release.  When the
 * socket overflows (ENOBUFS) notifications were lost: one dump of the tkv links against the
 * database finds what they said.
 *
 * A DEL that the plugin could not deliver (netd down) is written to the spool directory
 * "pending-del" beside the socket, one small JSON file per DEL.  The directory is root's, group
 * of the socket, mode 1730: those who may reach the socket may add files, nobody but root may
 * list them, and the sticky bit keeps a writer from renaming or removing another's file.  netd
 * applies a file as its owner (the uid the kernel recorded when the plugin created it) would
 * have been authorised on the socket: root or the admin group, or the tenant's owner uid or gid.
 * So a file can do nothing its writer could not do by sending DEL itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "netd.h"
#include "nl.h"

#define SPOOL_MAX_FILE 8192
#define SPOOL_PASS_MAX 1024 /* directory entries a pass reads before it lets the loop go on */

struct lifecycle {
	struct tk_nl_watch *watch;
	int epfd;	 /* watch and inotify, for the server's single extra event source */
	int spool_fd;	 /* the spool directory, -1 when it is unusable */
	int inotify_fd;	 /* files arriving in it */
	bool spool_more; /* a pass stopped at SPOOL_PASS_MAX entries: the loop runs another soon */
	char spool[4096];
};

static int close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
	return -1;
}

static int spool_path(const char *socket_path, char *buf, size_t size)
{
	const char *slash = strrchr(socket_path, '/');
	int dirlen = slash ? (int)(slash - socket_path) : 1;

	if (!slash)
		socket_path = ".";
	else if (dirlen == 0)
		dirlen = 1; /* "/netd.sock" */
	if ((size_t)snprintf(buf, size, "%.*s/pending-del", dirlen, socket_path) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* The spool directory, made or repaired: root's, the socket's group, 1730. */
static int spool_open(struct manager *m, struct lifecycle *l, tk_err *err)
{
	_cleanup_close_ int fd = -1;
	gid_t gid = 0;
	struct stat st;

	if (spool_path(m->socket_path, l->spool, sizeof(l->spool)) < 0)
		return tk_err_set(err, -ENAMETOOLONG, "socket path too long");
	if (m->socket_group && tk_parse_gid(m->socket_group, &gid) < 0)
		return tk_err_set(err, -EINVAL, "unknown socket group '%s'", m->socket_group);
	if (mkdir(l->spool, 0700) < 0 && errno != EEXIST)
		return tk_err_set(err, -errno, "cannot create '%s': %m", l->spool);
	fd = open(l->spool, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return tk_err_set(err, -errno, "cannot open '%s': %m", l->spool);
	if (fstat(fd, &st) < 0)
		return tk_err_set(err, -errno, "cannot stat '%s': %m", l->spool);
	/* Someone else's directory would let its owner see and remove the DELs of others. */
	if (st.st_uid != geteuid())
		return tk_err_set(err, -EPERM, "'%s' belongs to uid %u, not to netd", l->spool,
				  (unsigned)st.st_uid);
	if (fchown(fd, (uid_t)-1, gid) < 0 || fchmod(fd, 01730) < 0)
		return tk_err_set(err, -errno, "cannot set the owner and mode of '%s': %m",
				  l->spool);
	l->spool_fd = TAKE_FD(fd);
	return 0;
}

static int watch_spool(struct lifecycle *l, tk_err *err)
{
	char self[64];

	l->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (l->inotify_fd < 0)
		return tk_err_set(err, -errno, "inotify: %m");
	/* The directory checked above, not whatever the path names now. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", l->spool_fd);
	if (inotify_add_watch(l->inotify_fd, self, IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
		return tk_err_set(err, -errno, "cannot watch '%s': %m", l->spool);
	return 0;
}

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int lifecycle_open(struct manager *m, tk_err *err)
{
	struct lifecycle *l = calloc(1, sizeof(*l));
	/*
	 * A netns torn down with its veth makes one ~1 KiB notification per link, and thousands of
	 * containers can go at once.  Overflow is survivable (ENOBUFS, then a dump) but costs a
	 * full comparison: room for some 8,000.  Tests shrink it to provoke the overflow.
	 */
	const char *rcvbuf = getenv("TK_NETD_LINK_RCVBUF");
	int size = rcvbuf && atoi(rcvbuf) > 0 ? atoi(rcvbuf) : 8 << 20;
	tk_err spool_err = {};
	int r;

	if (!l)
		return tk_err_set(err, -ENOMEM, "out of memory");
	*l = (struct lifecycle){ .epfd = -1, .spool_fd = -1, .inotify_fd = -1 };
	m->lifecycle = l;
	/* Subscribed before reconcile's dump: a link deleted after it is still heard of. */
	if ((r = tk_nl_watch_open(&l->watch, size, err)) < 0)
		return tk_err_wrap(err, r, "watching links");
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (r = epoll_add(l->epfd, tk_nl_watch_fd(l->watch))) < 0)
		return tk_err_set(err, l->epfd < 0 ? -errno : r, "epoll: %m");
	/* Without the spool netd still works, and the veth-gone path still releases. */
	if ((r = spool_open(m, l, &spool_err)) < 0 || (r = watch_spool(l, &spool_err)) < 0 ||
	    (r = epoll_add(l->epfd, l->inotify_fd)) < 0) {
		log_warning("Pending-DEL spool unusable, DELs sent while netd is down are lost: %s",
			    spool_err.msg[0] ? spool_err.msg : strerror(-r));
		l->spool_fd = close_fd(l->spool_fd);
		l->inotify_fd = close_fd(l->inotify_fd);
	}
	return 0;
}

void lifecycle_close(struct manager *m)
{
	struct lifecycle *l = m->lifecycle;

	if (!l)
		return;
	tk_nl_watch_close(l->watch);
	close_fd(l->epfd);
	close_fd(l->spool_fd);
	close_fd(l->inotify_fd);
	free(l);
	m->lifecycle = NULL;
}

int lifecycle_fd(void *userdata)
{
	struct manager *m = userdata;

	return m->lifecycle ? m->lifecycle->epfd : -1;
}

/* RTM_DELLINK of a tkv link: release its endpoint if the link is really gone. */
static void link_gone(const char *name, void *userdata)
{
	struct manager *m = userdata;
	_cleanup_free_ struct endpoint *e = malloc(sizeof(*e));
	tk_err err = {};
	char *end;
	int ifindex, r;
	unsigned long id;

	if (!e || strlen(name) != 11)
		return;
	id = strtoul(name + 3, &end, 16);
	/* Host veths are named after the low 32 bits of ids that are never reused. */
	if (*end || db_endpoint_find_by_id(m, (int64_t)id, e, NULL) < 0 || e->lease ||
	    strcmp(e->host_ifname, name) != 0)
		return; /* netd's own DEL (the row went first), or not an endpoint's veth */
	/* A notification is history: only the kernel's present state may release. */
	if (tk_nl_ifindex(m->nl, name, &ifindex, NULL) != -ENODEV)
		return;
	if ((r = endpoint_release(m, e, &err)) < 0)
		log_error_errno(r, "Cannot release container '%s' %s (host veth '%s' is gone): %s",
				e->container_id, e->ifname, name, err.msg);
}

/* A qdisc came to or left the ingress of a device: if it is a port, hook its fast path again. */
static void ingress_changed(int ifindex, const char *kind, void *userdata)
{
	struct manager *m = userdata;
	_cleanup_free_ struct endpoint *e = malloc(sizeof(*e));
	char name[IF_NAMESIZE];
	tk_err err = {};
	unsigned long id;
	char *end;
	int r;

	if (!e || !if_indextoname((unsigned)ifindex, name) || strncmp(name, "tkv", 3) != 0 ||
	    strlen(name) != 11)
		return;
	id = strtoul(name + 3, &end, 16);
	if (*end || db_endpoint_find_by_id(m, (int64_t)id, e, NULL) < 0 || e->lease ||
	    strcmp(e->host_ifname, name) != 0)
		return;
	if ((r = firewall_fast_path_ingress(m, e, kind != NULL, &err)) < 0)
		log_error_errno(r, "Cannot hook the fast path of port '%s' again: %s", name,
				err.msg);
}

static void read_links(struct manager *m)
{
	tk_err err = {};
	int r;

	r = tk_nl_watch_read(m->lifecycle->watch, "tkv", link_gone, ingress_changed, m, &err);
	if (r == -ENOBUFS) {
		log_warning("Link notifications overflowed; comparing all veths with the database");
		err = (tk_err){};
		if ((r = reconcile_release_gone(m, NULL, NULL, &err)) < 0)
			log_error_errno(r, "Cannot release endpoints whose veth is gone: %s",
					err.msg);
		err = (tk_err){};
		if ((r = firewall_fast_path_recheck_all(m, &err)) < 0)
			log_error_errno(r, "Cannot hook the ports' fast path again: %s", err.msg);
	} else if (r < 0) {
		log_error_errno(r, "%s", err.msg);
	}
}

/* The admin group counts as the owner's primary or supplementary group, as on the socket. */
static bool in_admin_group(struct manager *m, uid_t uid, gid_t gid)
{
	struct passwd *pw;
	gid_t groups[256];
	int n = ELEMENTSOF(groups);

	if (m->admin_gid == (gid_t)-1)
		return false;
	if (gid == m->admin_gid)
		return true;
	pw = getpwuid(uid);
	if (!pw || getgrouplist(pw->pw_name, gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == m->admin_gid)
			return true;
	return false;
}

/* A recorded DEL: {"container_id", "ifname", "network"?} from a regular file of its owner. */
static int apply_file(struct manager *m, int fd, const char *name, tk_err *err)
{
	_cleanup_(json_decrefp) json_t *req = NULL;
	_cleanup_free_ struct endpoint *e = malloc(sizeof(*e));
	const char *container_id, *ifname, *network = NULL, *tenant = NULL;
	char buf[SPOOL_MAX_FILE + 1];
	struct tk_caller c = { .passed_fd = -1 };
	json_error_t jerr;
	struct stat st;
	ssize_t n;
	int r;

	if (!e)
		return tk_err_set(err, -ENOMEM, "out of memory");
	if (fstat(fd, &st) < 0)
		return tk_err_set(err, -errno, "stat: %m");
	if (!S_ISREG(st.st_mode) || st.st_size > SPOOL_MAX_FILE)
		return tk_err_set(err, -EINVAL, "not a regular file of at most %d bytes",
				  SPOOL_MAX_FILE);
	n = read(fd, buf, SPOOL_MAX_FILE);
	if (n < 0)
		return tk_err_set(err, -errno, "read: %m");
	req = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
	if (!req)
		return tk_err_set(err, -EINVAL, "not JSON: %s", jerr.text);
	if ((r = tk_json_unpack(req, name, err, "{s:s, s:s, s?s, s?s}", "container_id",
				&container_id, "ifname", &ifname, "network", &network, "tenant",
				&tenant)) < 0)
		return r;
	r = db_endpoint_find(m, container_id, ifname, e, NULL);
	/* Nothing to delete, as for a DEL on the socket: unknown, or another network or tenant. */
	if (r == -ENOENT || (r >= 0 && network && strcmp(network, e->network->name) != 0) ||
	    (r >= 0 && tenant && strcmp(tenant, e->network->tenant->name) != 0))
		return 0;
	if (r < 0)
		return tk_err_set(err, r, "looking up the endpoint failed");
	/* Whoever created the file, as SO_PEERCRED would have named them. */
	c.uid = st.st_uid;
	c.gid = st.st_gid;
	c.admin = st.st_uid == 0 || in_admin_group(m, st.st_uid, st.st_gid);
	if ((r = caller_may_manage(&c, e->network->tenant, err)) < 0 ||
	    (r = endpoint_del(m, e, err)) < 0)
		return r;
	log_info("Applied the DEL of container '%s' %s that uid %u recorded while netd was away",
		 container_id, ifname, (unsigned)st.st_uid);
	return 1;
}

static void spool_remove(int dfd, const char *name)
{
	if (unlinkat(dfd, name, 0) < 0 && errno == EISDIR)
		(void)unlinkat(dfd, name, AT_REMOVEDIR); /* empty, or it stays */
}

/*
 * Leftovers of a plugin killed between writing and renaming its file; and what no plugin writes,
 * which a socket-group member could leave to make each pass longer: a dot file dated a minute or
 * more ahead (never "stale" otherwise), anything but a regular file (an empty directory).
 */
static void remove_if_stale(int dfd, const char *name)
{
	const time_t now = time(NULL);
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (!S_ISREG(st.st_mode) || st.st_mtime < now - 60 || st.st_mtime > now + 60))
		spool_remove(dfd, name);
}

/*
 * Whether a recorded DEL that failed goes: a malformed file, or one whose writer may not delete
 * that endpoint, is never good; a DEL that failed for the moment (the database busy, a batch
 * refused, out of memory) is tried again at the next pass, as a runtime retries a DEL that failed
 * on the socket, rather than lost with the runtime thinking it done.
 */
static bool spool_permanent(int r)
{
	return r == -EINVAL || r == -EACCES || r == -EPERM || r == -ENOENT || r == -ELOOP ||
	       r == -EBADMSG;
}

static bool drain_inotify(struct lifecycle *l)
{
	_Alignas(struct inotify_event) char buf[4096];
	bool any = false;

	while (read(l->inotify_fd, buf, sizeof(buf)) > 0)
		any = true;
	return any;
}

void lifecycle_spool_apply(struct manager *m, bool only_if_changed)
{
	struct lifecycle *l = m->lifecycle;
	struct dirent *de;
	DIR *d;
	int dfd;

	if (!l || l->spool_fd < 0)
		return;
	/* One read() that finds nothing: this runs before every ADD. */
	if (!drain_inotify(l) && only_if_changed && !l->spool_more)
		return;
	/* A new open file description: a dup would share the offset the last readdir left. */
	if ((dfd = openat(l->spool_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    !(d = fdopendir(dfd))) {
		log_error("Cannot read '%s': %m", l->spool);
		close_fd(dfd);
		return;
	}
	l->spool_more = false;
	for (unsigned seen = 0; (de = readdir(d)); seen++) {
		_cleanup_close_ int fd = -1;
		tk_err err = {};
		int r = 0;

		/* Bounded: the loop serves requests between passes however fast files come. */
		if (seen == SPOOL_PASS_MAX) {
			l->spool_more = true;
			break;
		}
		if (de->d_name[0] == '.') {
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				remove_if_stale(dfd, de->d_name);
			continue;
		}
		fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0)
			r = tk_err_set(&err, -errno, "%m");
		else
			r = apply_file(m, fd, de->d_name, &err);
		if (r < 0 && !spool_permanent(r)) {
			log_ratelimit_warning(
				"Recorded DEL '%s/%s' not applied, trying again later: %s",
				l->spool, de->d_name, err.msg);
			continue;
		}
		if (r < 0)
			log_ratelimit_warning("Recorded DEL '%s/%s' not applied, removing it: %s",
					      l->spool, de->d_name, err.msg);
		spool_remove(dfd, de->d_name);
	}
	closedir(d);
}

bool lifecycle_spool_more(struct manager *m)
{
	return m->lifecycle && m->lifecycle->spool_more;
}

void lifecycle_run(void *userdata)
{
	struct manager *m = userdata;

	read_links(m);
	lifecycle_spool_apply(m, true);
}
