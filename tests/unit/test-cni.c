/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lib/cni: environment, configuration, version negotiation, results and error codes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cni.h"

/* A fake environment: NULL-terminated "NAME=value" strings. */
static const char *const *fake_env;

static const char *fake_get(const char *name)
{
	size_t len = strlen(name);

	for (const char *const *e = fake_env; e && *e; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

static int env_code(const char *const *env)
{
	struct tk_cni_env out;
	struct tk_cni_error e = {};

	fake_env = env;
	return tk_cni_env_parse(fake_get, &out, &e) < 0 ? e.code : 0;
}

static void test_env(void **state)
{
	static const char *const add[] = { "CNI_COMMAND=ADD",
					   "CNI_CONTAINERID=abc",
					   "CNI_NETNS=/run/netns/x",
					   "CNI_IFNAME=eth0",
					   "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.0.0.5;"
					   "MAC=02:00:00:00:00:05",
					   NULL };
	struct tk_cni_env env;
	struct tk_cni_error e = {};

	(void)state;
	fake_env = add;
	assert_int_equal(tk_cni_env_parse(fake_get, &env, &e), 0);
	assert_int_equal(env.command, TK_CNI_ADD);
	assert_string_equal(env.container_id, "abc");
	assert_string_equal(env.ip, "10.0.0.5");
	assert_string_equal(env.mac, "02:00:00:00:00:05");

	/* Only CNI_COMMAND for the network-level verbs; DEL without a netns is fine. */
	assert_int_equal(env_code((const char *const[]){ "CNI_COMMAND=VERSION", NULL }), 0);
	/* What libcni passes when it validates a configuration list. */
	assert_int_equal(env_code((const char *const[]){
				 "CNI_COMMAND=VERSION", "CNI_CONTAINERID=dummy", "CNI_NETNS=dummy",
				 "CNI_IFNAME=dummy", "CNI_PATH=dummy", NULL }),
			 0);
	assert_int_equal(env_code((const char *const[]){ "CNI_COMMAND=STATUS", NULL }), 0);
	assert_int_equal(env_code((const char *const[]){ "CNI_COMMAND=GC", NULL }), 0);
	assert_int_equal(env_code((const char *const[]){ "CNI_COMMAND=DEL", "CNI_CONTAINERID=a",
							 "CNI_IFNAME=eth0", NULL }),
			 0);

	const char *const *const bad[] = {
		(const char *const[]){ NULL },
		(const char *const[]){ "CNI_COMMAND=", NULL },
		(const char *const[]){ "CNI_COMMAND=add", NULL },
		(const char *const[]){ "CNI_COMMAND=ADD", "CNI_NETNS=/x", "CNI_IFNAME=eth0", NULL },
		(const char *const[]){ "CNI_COMMAND=ADD", "CNI_CONTAINERID=a", "CNI_IFNAME=eth0",
				       NULL },
		(const char *const[]){ "CNI_COMMAND=ADD", "CNI_CONTAINERID=a", "CNI_NETNS=x",
				       "CNI_IFNAME=eth0", NULL },
		(const char *const[]){ "CNI_COMMAND=CHECK", "CNI_CONTAINERID=a/b", "CNI_NETNS=/x",
				       "CNI_IFNAME=eth0", NULL },
		(const char *const[]){ "CNI_COMMAND=ADD", "CNI_CONTAINERID=a", "CNI_NETNS=/x",
				       "CNI_IFNAME=0123456789abcdef", NULL },
		(const char *const[]){ "CNI_COMMAND=DEL", "CNI_CONTAINERID=a", NULL },
		(const char *const[]){ "CNI_COMMAND=DEL", "CNI_CONTAINERID=a", "CNI_IFNAME=eth0",
				       "CNI_ARGS=IP", NULL },
		(const char *const[]){ "CNI_COMMAND=DEL", "CNI_CONTAINERID=a", "CNI_IFNAME=eth0",
				       "CNI_ARGS==5", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(env_code(bad[i]), TK_CNI_ERR_INVALID_ENV);
}

static struct tk_cni_env add_env(void)
{
	return (struct tk_cni_env){ .command = TK_CNI_ADD,
				    .container_id = "c",
				    .ifname = "eth0",
				    .netns = "/run/netns/c" };
}

static int config_code(const char *text, enum tk_cni_command command, bool ipam)
{
	struct tk_cni_env env = add_env();
	struct tk_cni_config cfg;
	struct tk_cni_error e = {};
	int code;

	env.command = command;
	code = tk_cni_config_parse(text, strlen(text), &env, ipam, &cfg, &e) < 0 ? e.code : 0;
	tk_cni_config_done(&cfg);
	return code;
}

#define BASE                                                                                       \
	"\"name\":\"n\",\"type\":\"tenant-bridge\",\"tenant\":\"alpha\",\"network\":\"alpha-net\""

/* portMappings become netd's port_mappings: protocol defaults to tcp, an empty hostIP is none. */
static void test_port_mappings(void **state)
{
	static const char text[] =
		"{\"cniVersion\":\"1.1.0\"," BASE ",\"runtimeConfig\":{\"portMappings\":["
		"{\"hostPort\":20080,\"containerPort\":80,\"protocol\":\"tcp\",\"hostIP\":\"\"},"
		"{\"hostPort\":20053,\"containerPort\":53,\"protocol\":\"UDP\","
		"\"hostIP\":\"192.0.2.1\"},{\"hostPort\":20443,\"containerPort\":443}]}}";
	struct tk_cni_env env = add_env();
	struct tk_cni_config cfg;
	struct tk_cni_error e = {};
	char *dump;

	(void)state;
	assert_int_equal(tk_cni_config_parse(text, strlen(text), &env, false, &cfg, &e), 0);
	dump = json_dumps(cfg.port_mappings, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(dump,
			    "[{\"container_port\":80,\"host_port\":20080,\"protocol\":\"tcp\"},"
			    "{\"container_port\":53,\"host_ip\":\"192.0.2.1\",\"host_port\":20053,"
			    "\"protocol\":\"udp\"},"
			    "{\"container_port\":443,\"host_port\":20443,\"protocol\":\"tcp\"}]");
	free(dump);
	tk_cni_config_done(&cfg);
	/* Only ADD publishes. */
	env.command = TK_CNI_DEL;
	assert_int_equal(tk_cni_config_parse(text, strlen(text), &env, false, &cfg, &e), 0);
	assert_null(cfg.port_mappings);
	tk_cni_config_done(&cfg);
}

static void test_config(void **state)
{
	(void)state;
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE "}", TK_CNI_ADD, false), 0);
	assert_int_equal(config_code("{\"cniVersion\":\"1.0.0\"," BASE "}", TK_CNI_ADD, false), 0);
	assert_int_equal(config_code("{\"cniVersion\":\"0.4.0\"," BASE "}", TK_CNI_ADD, false), 0);
	assert_int_equal(config_code("{\"cniVersion\":\"0.3.1\"," BASE "}", TK_CNI_ADD, false),
			 TK_CNI_ERR_VERSION);
	assert_int_equal(config_code("{\"cniVersion\":\"2.0.0\"," BASE "}", TK_CNI_ADD, false),
			 TK_CNI_ERR_VERSION);
	assert_int_equal(config_code("", TK_CNI_ADD, false), TK_CNI_ERR_DECODE);
	assert_int_equal(config_code("[]", TK_CNI_ADD, false), TK_CNI_ERR_DECODE);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"", TK_CNI_ADD, false),
			 TK_CNI_ERR_DECODE);
	assert_int_equal(config_code("{" BASE "}", TK_CNI_ADD, false), TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\","
				     "\"network\":\"x\"}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\","
				     "\"tenant\":\"a/b\",\"network\":\"x\"}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"socket\":\"rel\"}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	/* portMappings: both ports are required, protocol is tcp or udp. */
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"runtimeConfig\":"
				     "{\"portMappings\":[{\"hostPort\":80}]}}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"runtimeConfig\":"
				     "{\"portMappings\":[{\"hostPort\":80,\"containerPort\":"
				     "70000}]}}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"runtimeConfig\":"
				     "{\"portMappings\":[{\"hostPort\":80,\"containerPort\":80,"
				     "\"protocol\":\"sctp\"}]}}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"runtimeConfig\":"
				     "{\"portMappings\":{}}}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	/* DEL does not judge them: the endpoint's mappings go with it whatever they were. */
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"runtimeConfig\":"
				     "{\"portMappings\":{}}}",
				     TK_CNI_DEL, false),
			 0);
	/* An empty portMappings list is what runtimes send when nothing is published. */
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"runtimeConfig\":"
				     "{\"portMappings\":[]}}",
				     TK_CNI_ADD, false),
			 0);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"prevResult\":[]}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	/* GC needs a well-formed list of valid attachments, if it has one. */
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE
				     ",\"cni.dev/valid-attachments\":\"a\"}",
				     TK_CNI_GC, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE
				     ",\"cni.dev/attachments\":{}}",
				     TK_CNI_GC, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE
				     ",\"cni.dev/valid-attachments\":"
				     "[{\"containerID\":\"a\"}]}",
				     TK_CNI_GC, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE
				     ",\"cni.dev/valid-attachments\":"
				     "[{\"containerID\":\"a\",\"ifname\":\"eth0\"}]}",
				     TK_CNI_GC, false),
			 0);
	/* The spec's network names only: GC could never find an ADD's endpoints by another. */
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\",\"name\":\"bad name/x\","
				     "\"type\":\"t\",\"tenant\":\"a\",\"network\":\"b\"}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\",\"name\":\"\",\"type\":\"t\","
				     "\"tenant\":\"a\",\"network\":\"b\"}",
				     TK_CNI_GC, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\",\"name\":\"-n\",\"type\":\"t\","
				     "\"tenant\":\"a\",\"network\":\"b\"}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	/* DEL deletes what an older plugin's ADD made under such a name. */
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\",\"name\":\"-n\",\"type\":\"t\","
				     "\"tenant\":\"a\",\"network\":\"b\"}",
				     TK_CNI_DEL, false),
			 0);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\",\"name\":\"My_net-1.2\","
				     "\"type\":\"t\",\"tenant\":\"a\",\"network\":\"b\"}",
				     TK_CNI_ADD, false),
			 0);
	/* GC and STATUS are CNI 1.1's: an older configuration's GC has no valid attachments. */
	assert_int_equal(config_code("{\"cniVersion\":\"0.4.0\"," BASE "}", TK_CNI_GC, false),
			 TK_CNI_ERR_VERSION);
	assert_int_equal(config_code("{\"cniVersion\":\"1.0.0\"," BASE "}", TK_CNI_GC, false),
			 TK_CNI_ERR_VERSION);
	assert_int_equal(config_code("{\"cniVersion\":\"1.0.0\"," BASE "}", TK_CNI_STATUS, false),
			 TK_CNI_ERR_VERSION);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE "}", TK_CNI_STATUS, false),
			 0);
	/* prevResult's lists and dns as the result format has them, or the result would be wrong. */
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"prevResult\":"
				     "{\"interfaces\":\"bogus\",\"ips\":[]}}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"prevResult\":"
				     "{\"routes\":{}}}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"prevResult\":"
				     "{\"dns\":[1]}}",
				     TK_CNI_ADD, false),
			 TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(config_code("{\"cniVersion\":\"1.1.0\"," BASE ",\"prevResult\":"
				     "{\"interfaces\":[],\"ips\":[],\"routes\":[],\"dns\":{}}}",
				     TK_CNI_ADD, false),
			 0);
	/* VERSION accepts anything that is a JSON object. */
	assert_int_equal(config_code("{\"cniVersion\":\"9.9.9\"}", TK_CNI_VERSION, false), 0);
	/* IPAM plugins read tenant and network from the ipam object. */
	assert_int_equal(config_code("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"bridge\","
				     "\"ipam\":{\"type\":\"tenant-ipam\",\"tenant\":\"a\","
				     "\"network\":\"b\"}}",
				     TK_CNI_ADD, true),
			 0);
	assert_int_equal(config_code("{\"cniVersion\":\"1.0.0\"," BASE "}", TK_CNI_ADD, true),
			 TK_CNI_ERR_INVALID_CONFIG);
}

/* GC: null (libcni's empty list) and no list mean "keep nothing"; the older key is read too. */
static void test_gc_list(void **state)
{
	static const struct {
		const char *extra;
		size_t kept;
	} cases[] = {
		{ "", 0 },
		{ ",\"cni.dev/valid-attachments\":null", 0 },
		{ ",\"cni.dev/valid-attachments\":[]", 0 },
		{ ",\"cni.dev/valid-attachments\":null,\"cni.dev/attachments\":null", 0 },
		{ ",\"cni.dev/attachments\":[{\"containerID\":\"a\",\"ifname\":\"eth0\"}]", 1 },
		{ ",\"cni.dev/valid-attachments\":[{\"containerID\":\"a\",\"ifname\":\"eth0\"},"
		  "{\"containerID\":\"b\",\"ifname\":\"eth1\"}]",
		  2 },
	};
	struct tk_cni_env env = add_env();
	char text[512];

	(void)state;
	env.command = TK_CNI_GC;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tk_cni_config cfg;
		struct tk_cni_error e = {};

		snprintf(text, sizeof(text), "{\"cniVersion\":\"1.1.0\"," BASE "%s}",
			 cases[i].extra);
		assert_int_equal(tk_cni_config_parse(text, strlen(text), &env, false, &cfg, &e), 0);
		assert_int_equal(json_array_size(cfg.valid_attachments), cases[i].kept);
		assert_int_equal(tk_cni_attachment_valid(cfg.valid_attachments, "a", "eth0"),
				 cases[i].kept > 0);
		tk_cni_config_done(&cfg);
	}
}

static void test_requests_precedence(void **state)
{
	const char *text = "{\"cniVersion\":\"1.1.0\"," BASE ",\"runtimeConfig\":{\"ips\":"
			   "[\"10.0.0.9/24\"],\"mac\":\"02:00:00:00:00:09\"},\"args\":{\"cni\":"
			   "{\"ips\":[\"10.0.0.8\"],\"mac\":\"02:00:00:00:00:08\"}}}";
	struct tk_cni_env env = add_env();
	struct tk_cni_config cfg;
	struct tk_cni_error e = {};

	(void)state;
	strcpy(env.ip, "10.0.0.7");
	assert_int_equal(tk_cni_config_parse(text, strlen(text), &env, false, &cfg, &e), 0);
	assert_string_equal(cfg.ips[0], "10.0.0.9/24");
	assert_null(cfg.ips[1]);
	assert_string_equal(cfg.mac, "02:00:00:00:00:09");
	tk_cni_config_done(&cfg);

	text = "{\"cniVersion\":\"1.1.0\"," BASE "}";
	strcpy(env.mac, "02:00:00:00:00:07");
	assert_int_equal(tk_cni_config_parse(text, strlen(text), &env, false, &cfg, &e), 0);
	assert_string_equal(cfg.ips[0], "10.0.0.7");
	assert_string_equal(cfg.mac, "02:00:00:00:00:07");
	tk_cni_config_done(&cfg);
}

static json_t *endpoint(void)
{
	return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}]}", "host_ifname",
			 "tkv00000001", "ifname", "eth0", "mac", "02:00:00:00:00:02", "ips",
			 "address", "10.200.0.2/24", "gateway", "10.200.0.1", "version", "4",
			 "address", "fd7e::2/64", "gateway", "fd7e::1", "version", "6");
}

static json_t *result_for(const char *config, const char *host_mac)
{
	struct tk_cni_env env = add_env();
	struct tk_cni_config cfg;
	struct tk_cni_error e = {};
	json_t *ep = endpoint(), *r;

	assert_int_equal(tk_cni_config_parse(config, strlen(config), &env, false, &cfg, &e), 0);
	/* The result copies what it takes from cfg and the endpoint: both may go first. */
	r = tk_cni_result(&cfg, ep, host_mac, "/run/netns/c");
	json_decref(ep);
	tk_cni_config_done(&cfg);
	return r;
}

static void test_result(void **state)
{
	json_t *r = result_for("{\"cniVersion\":\"1.1.0\"," BASE "}", "0a:00:00:00:00:01"), *ip;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(r, "cniVersion")), "1.1.0");
	assert_int_equal(json_array_size(json_object_get(r, "interfaces")), 2);
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(r, "interfaces"), 1), "sandbox")),
		"/run/netns/c");
	ip = json_array_get(json_object_get(r, "ips"), 1);
	assert_string_equal(json_string_value(json_object_get(ip, "address")), "fd7e::2/64");
	assert_int_equal(json_integer_value(json_object_get(ip, "interface")), 1);
	assert_null(json_object_get(ip, "version"));
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(r, "routes"), 1), "dst")),
			    "::/0");
	assert_true(json_is_object(json_object_get(r, "dns")));
	json_decref(r);

	/* 0.4.0 carries "version"; a prevResult's entries come first and shift the index. */
	r = result_for("{\"cniVersion\":\"0.4.0\"," BASE
		       ",\"prevResult\":{\"interfaces\":[{\"name\":"
		       "\"lo\"}],\"ips\":[],\"dns\":{\"nameservers\":[\"10.0.0.53\"]}}}",
		       NULL);
	ip = json_array_get(json_object_get(r, "ips"), 0);
	assert_string_equal(json_string_value(json_object_get(ip, "version")), "4");
	assert_int_equal(json_integer_value(json_object_get(ip, "interface")), 2);
	assert_int_equal(json_array_size(json_object_get(r, "interfaces")), 3);
	assert_null(json_object_get(json_array_get(json_object_get(r, "interfaces"), 1), "mac"));
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "dns"), "nameservers")),
			 1);
	json_decref(r);
}

static void test_errors(void **state)
{
	struct tk_cni_error e = {};
	json_t *j;

	(void)state;
	tk_cni_fail(&e, TK_CNI_ERR_NO_IPS, "no IPs available", "network %s is full", "n");
	j = tk_cni_error_json("1.0.0", &e);
	assert_string_equal(json_string_value(json_object_get(j, "cniVersion")), "1.0.0");
	assert_int_equal(json_integer_value(json_object_get(j, "code")), 51);
	assert_string_equal(json_string_value(json_object_get(j, "details")), "network n is full");
	json_decref(j);
	/* An unsupported or missing version still yields a parsable error. */
	j = tk_cni_error_json("0.1.0", &e);
	assert_string_equal(json_string_value(json_object_get(j, "cniVersion")), "1.1.0");
	json_decref(j);

	assert_int_equal(tk_cni_code_of_errno(-EADDRINUSE), TK_CNI_ERR_ADDRESS);
	assert_int_equal(tk_cni_code_of_errno(-ENOSPC), TK_CNI_ERR_POOL_EXHAUSTED);
	assert_int_equal(tk_cni_code_of_errno(-EDQUOT), TK_CNI_ERR_LIMIT);
	assert_int_equal(tk_cni_code_of_errno(-EACCES), TK_CNI_ERR_PERMISSION);
	assert_int_equal(tk_cni_code_of_errno(-EEXIST), TK_CNI_ERR_EXISTS);
	assert_int_equal(tk_cni_code_of_errno(-ENOENT), TK_CNI_ERR_INVALID_CONFIG);
	assert_int_equal(tk_cni_code_of_errno(-EBUSY), TK_CNI_ERR_TRY_LATER);
	/* netd's "too many connections for uid N": a moment later it takes one */
	assert_int_equal(tk_cni_code_of_errno(-EUSERS), TK_CNI_ERR_TRY_LATER);
	assert_int_equal(tk_cni_code_of_errno(-ENOTTY), TK_CNI_ERR_REFUSED);

	/* A tk_err becomes a CNI error in one place: code, short message, err's text as details. */
	{
		tk_err err = {};

		tk_err_set(&err, -EDQUOT, "tenant 'a' may have at most 2 endpoint(s)");
		assert_int_equal(tk_cni_fail_err(&e, err.code, &err), -1);
		assert_int_equal(e.code, TK_CNI_ERR_LIMIT);
		assert_string_equal(e.msg, "tenant endpoint limit reached");
		assert_string_equal(e.details, "tenant 'a' may have at most 2 endpoint(s)");
		/* Without a message, the details are the code's text rather than nothing. */
		tk_err_clear(&err);
		assert_int_equal(tk_cni_fail_err(&e, -EADDRINUSE, &err), -1);
		assert_int_equal(e.code, TK_CNI_ERR_ADDRESS);
		assert_string_equal(e.msg, "requested address not available");
		assert_string_equal(e.details, strerror(EADDRINUSE));
	}
}

static void test_valid_attachments(void **state)
{
	json_t *valid = json_pack("[{s:s, s:s}]", "containerID", "a", "ifname", "eth0");

	(void)state;
	assert_true(tk_cni_attachment_valid(valid, "a", "eth0"));
	assert_false(tk_cni_attachment_valid(valid, "a", "eth1"));
	assert_false(tk_cni_attachment_valid(valid, "b", "eth0"));
	json_decref(valid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_port_mappings),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_gc_list),

		cmocka_unit_test(test_requests_precedence),
		cmocka_unit_test(test_result),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_valid_attachments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
