/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* volumed's pure helpers: sizes, and opening paths that cannot escape their directory. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/magic.h>

#include "volume.h"

static uint64_t size_of(const char *s)
{
	uint64_t v = 0;

	assert_int_equal(tk_size_parse(s, &v, NULL), 0);
	return v;
}

static void test_size_parse(void **state)
{
	(void)state;
	assert_int_equal(size_of("4096"), 4096);
	assert_int_equal(size_of("512K"), 512ull << 10);
	assert_int_equal(size_of("512M"), 512ull << 20);
	assert_int_equal(size_of("512m"), 512ull << 20);
	assert_int_equal(size_of("512MiB"), 512ull << 20);
	assert_int_equal(size_of("10G"), 10ull << 30);
	assert_int_equal(size_of("10GB"), 10ull << 30);
	assert_int_equal(size_of("1T"), 1ull << 40);
	assert_int_equal(size_of("2P"), 2ull << 50);
	assert_int_equal(size_of("100B"), 100);

	static const char *const bad[] = { "",	  "0",	"0G",	 "-1G",	 "1.5G", "G",  " 1G",
					   "1G ", "1X", "1GiBB", "0x10", "+5M",	 "1 G" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tk_err err = {};
		uint64_t v = 7;
		assert_int_equal(tk_size_parse(bad[i], &v, &err), -EINVAL);
		assert_int_equal(v, 7); /* untouched on failure */
		assert_true(strlen(err.msg) > 0);
	}
	static const char *const huge[] = { "99999999999999999999", "8192P",
					    "9223372036854775808" };
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		uint64_t v;
		assert_int_equal(tk_size_parse(huge[i], &v, NULL), -ERANGE);
	}
	assert_int_equal(size_of("8191P"), 8191ull << 50);
}

static void test_size_format(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(tk_size_format(512ull << 20, buf, sizeof(buf)), "512M");
	assert_string_equal(tk_size_format(10ull << 30, buf, sizeof(buf)), "10G");
	assert_string_equal(tk_size_format(1536ull << 20, buf, sizeof(buf)), "1536M");
	assert_string_equal(tk_size_format(1000, buf, sizeof(buf)), "1000");
	assert_string_equal(tk_size_format(0, buf, sizeof(buf)), "0");
	assert_string_equal(tk_size_format(3ull << 50, buf, sizeof(buf)), "3P");
	/* Whatever it prints parses back to the same number. */
	for (uint64_t v = 1; v < (1ull << 42); v = v * 3 + 1024) {
		uint64_t back;
		assert_int_equal(tk_size_parse(tk_size_format(v, buf, sizeof(buf)), &back, NULL),
				 0);
		assert_int_equal(back, v);
	}
}

static void test_open_beneath(void **state)
{
	char root[] = "/tmp/tk-test-volume.XXXXXX", path[256], cmd[300];
	int dir, fd = -1;
	tk_err err = {};

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/vols", root);
	assert_int_equal(mkdir(path, 0700), 0);
	dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dir >= 0);
	snprintf(path, sizeof(path), "%s/secret", root);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	assert_int_equal(symlinkat("../secret", dir, "link"), 0);
	assert_int_equal(symlinkat("/etc/passwd", dir, "abs"), 0);
	assert_int_equal(mkdirat(dir, "data", 0700), 0);

	assert_int_equal(tk_open_beneath(dir, "data.img", O_CREAT | O_RDWR, 0600, &fd, NULL), 0);
	close(fd);
	assert_int_equal(tk_open_beneath(dir, "data", O_RDONLY | O_DIRECTORY, 0, &fd, NULL), 0);
	close(fd);

	assert_int_equal(tk_open_beneath(dir, "../secret", O_RDONLY, 0, &fd, &err), -EXDEV);
	assert_non_null(strstr(err.msg, "outside"));
	assert_int_equal(tk_open_beneath(dir, "data/../../secret", O_RDONLY, 0, &fd, NULL), -EXDEV);
	assert_int_equal(tk_open_beneath(dir, "/etc/passwd", O_RDONLY, 0, &fd, NULL), -EXDEV);
	assert_int_equal(tk_open_beneath(dir, "link", O_RDONLY, 0, &fd, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "symbolic link"));
	assert_int_equal(tk_open_beneath(dir, "abs", O_RDONLY, 0, &fd, NULL), -ELOOP);
	/* A symlink is refused even when it would stay inside. */
	assert_int_equal(symlinkat("data", dir, "inside"), 0);
	assert_int_equal(tk_open_beneath(dir, "inside", O_RDONLY, 0, &fd, NULL), -ELOOP);
	assert_int_equal(tk_open_beneath(dir, "missing", O_RDONLY, 0, &fd, NULL), -ENOENT);

	/* The fallback for kernels (and valgrind) without openat2 refuses the same. */
	fd = (int)tk_open_beneath_walk(dir, "data", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	close(fd);
	fd = (int)tk_open_beneath_walk(dir, "data/new.img", O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(tk_open_beneath_walk(dir, "../secret", O_RDONLY, 0), -EXDEV);
	assert_int_equal(tk_open_beneath_walk(dir, "data/../../secret", O_RDONLY, 0), -EXDEV);
	assert_int_equal(tk_open_beneath_walk(dir, "/etc/passwd", O_RDONLY, 0), -EXDEV);
	assert_int_equal(tk_open_beneath_walk(dir, "link", O_RDONLY, 0), -ELOOP);
	assert_int_equal(tk_open_beneath_walk(dir, "inside", O_PATH | O_DIRECTORY, 0), -ELOOP);
	assert_int_equal(tk_open_beneath_walk(dir, "inside/x", O_RDONLY, 0), -ELOOP);
	assert_int_equal(tk_open_beneath_walk(dir, "missing", O_RDONLY, 0), -ENOENT);

	close(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void test_backend_for(void **state)
{
	(void)state;
	assert_string_equal(tk_backend_for(BTRFS_SUPER_MAGIC, false), "btrfs");
	assert_string_equal(tk_backend_for(XFS_SUPER_MAGIC, true), "xfs");
	/* XFS without enforced project quotas has no limit to offer: a loop image does. */
	assert_string_equal(tk_backend_for(XFS_SUPER_MAGIC, false), "loop");
	assert_string_equal(tk_backend_for(EXT4_SUPER_MAGIC, false), "loop");
	assert_string_equal(tk_backend_for(TMPFS_MAGIC, true), "loop");
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = n; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

/* Superblocks laid out as mkfs.ext4 1.47 and mkfs.xfs 6.1 wrote them (dumpe2fs, xfs_db). */
static void test_superblock_usage(void **state)
{
	static uint8_t img[4096];
	uint8_t *sb = img + 1024;
	struct tk_fs_usage u = {};
	tk_err err = {};

	(void)state;
	/* 80M ext4, 4K blocks: 20480 blocks, 19357 free, 1117 overhead; 1280 inodes, 1269 free */
	put_le(sb + 0x0, 1280, 4);
	put_le(sb + 0x4, 20480, 4);
	put_le(sb + 0xc, 19357 - 256, 4); /* 1M written */
	put_le(sb + 0x10, 1269 - 1, 4);
	put_le(sb + 0x18, 2, 4);
	put_le(sb + 0x38, 0xef53, 2);
	put_le(sb + 0x248, 1117, 4);
	assert_int_equal(tk_superblock_usage(img, sizeof(img), &u, &err), 0);
	assert_string_equal(u.fs, "ext4");
	assert_int_equal(u.used_bytes, (6 + 256) * 4096ULL);
	assert_int_equal(u.total_bytes, (20480 - 1117) * 4096ULL);
	assert_int_equal(u.used_inodes, 12);
	assert_int_equal(u.total_inodes, 1280);
	/* 64bit: the high halves count */
	put_le(sb + 0x60, 0x80, 4);
	put_le(sb + 0x150, 1, 4);
	put_le(sb + 0x158, 1, 4);
	assert_int_equal(tk_superblock_usage(img, sizeof(img), &u, &err), 0);
	assert_int_equal(u.used_bytes, (6 + 256) * 4096ULL);
	assert_int_equal(u.total_bytes, ((1ULL << 32) + 20480 - 1117) * 4096ULL);
	/* more free than there are blocks: refused, not a huge number */
	put_le(sb + 0x158, 2, 4);
	assert_int_equal(tk_superblock_usage(img, sizeof(img), &u, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "ext4 superblock"));

	/* 300M xfs, 4K blocks, internal log of 4096 blocks; 64 inodes, 61 free */
	memset(img, 0, sizeof(img));
	memcpy(img, "XFSB", 4);
	put_be(img + 4, 4096, 4);
	put_be(img + 8, 76800, 8);
	put_be(img + 48, 65540, 8);
	put_be(img + 96, 4096, 4);
	put_be(img + 128, 64, 8);
	put_be(img + 136, 61, 8);
	put_be(img + 144, 72000, 8);
	assert_int_equal(tk_superblock_usage(img, sizeof(img), &u, &err), 0);
	assert_string_equal(u.fs, "xfs");
	assert_int_equal(u.used_bytes, (76800 - 4096 - 72000) * 4096ULL);
	assert_int_equal(u.total_bytes, (76800 - 4096) * 4096ULL);
	assert_int_equal(u.used_inodes, 3);
	/* an external log (logstart 0) takes nothing of the data device */
	put_be(img + 48, 0, 8);
	assert_int_equal(tk_superblock_usage(img, sizeof(img), &u, &err), 0);
	assert_int_equal(u.used_bytes, (76800 - 72000) * 4096ULL);

	memset(img, 0, sizeof(img));
	assert_int_equal(tk_superblock_usage(img, sizeof(img), &u, &err), -EMEDIUMTYPE);
	assert_int_equal(tk_superblock_usage(img, 100, &u, &err), -EMEDIUMTYPE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_parse),	 cmocka_unit_test(test_size_format),
		cmocka_unit_test(test_open_beneath),	 cmocka_unit_test(test_backend_for),
		cmocka_unit_test(test_superblock_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
