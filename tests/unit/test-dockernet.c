/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Decoding of Docker's NetworkDriver and IpamDriver requests, as dockerd 20.10 sends them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dockernet.h"

#define NID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define EID "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static tk_err last_err;

static int decode(const char *path, const char *body, struct tk_dnet_request *req)
{
	int r;

	last_err = (tk_err){};
	r = tk_dnet_request_decode(path, body, body ? strlen(body) : 0, req, &last_err);
	if (r < 0)
		assert_true(last_err.msg[0] != '\0'); /* every refusal says why */
	return r;
}

static void test_routes(void **state)
{
	static const struct {
		const char *path, *body;
		enum tk_dnet_op op;
	} cases[] = {
		{ "/Plugin.Activate", NULL, TK_DNET_ACTIVATE },
		{ "/NetworkDriver.GetCapabilities", "", TK_DNET_CAPABILITIES },
		{ "/NetworkDriver.DeleteNetwork", "{\"NetworkID\":\"" NID "\"}",
		  TK_DNET_DELETE_NETWORK },
		{ "/NetworkDriver.Join",
		  "{\"NetworkID\":\"" NID "\",\"EndpointID\":\"" EID
		  "\",\"SandboxKey\":\"/var/run/docker/netns/x\",\"Options\":{}}",
		  TK_DNET_JOIN },
		{ "/NetworkDriver.Leave", "{\"NetworkID\":\"" NID "\",\"EndpointID\":\"" EID "\"}",
		  TK_DNET_LEAVE },
		{ "/NetworkDriver.DiscoverNew", "{\"DiscoveryType\":1,\"DiscoveryData\":null}",
		  TK_DNET_DISCOVER_NEW },
		{ "/IpamDriver.GetCapabilities", NULL, TK_DNET_IPAM_CAPABILITIES },
		{ "/IpamDriver.GetDefaultAddressSpaces", "{}", TK_DNET_IPAM_ADDRESS_SPACES },
		{ "/IpamDriver.ReleasePool", "{\"PoolID\":\"10.200.3.0/24\"}",
		  TK_DNET_RELEASE_POOL },
	};
	struct tk_dnet_request req;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(decode(cases[i].path, cases[i].body, &req), 0);
		assert_int_equal(req.op, cases[i].op);
		tk_dnet_request_done(&req);
	}
	assert_int_equal(decode("/VolumeDriver.Create", "{}", &req), -ENOENT);
	assert_int_equal(decode("/NetworkDriver.Join", "[1]", &req), -EBADMSG);
	assert_int_equal(decode("/NetworkDriver.Join", "{\"NetworkID\":", &req), -EBADMSG);
	/* Ids are hex, so they can name links and rows. */
	assert_int_equal(decode("/NetworkDriver.DeleteNetwork", "{\"NetworkID\":\"../etc\"}", &req),
			 -EINVAL);
	assert_int_equal(decode("/NetworkDriver.DeleteNetwork", "{}", &req), -EINVAL);
	assert_int_equal(decode("/NetworkDriver.Leave", "{\"NetworkID\":\"" NID "\"}", &req),
			 -EINVAL);
}

static void test_create_network(void **state)
{
	struct tk_dnet_request req;

	(void)state;
	assert_int_equal(
		decode("/NetworkDriver.CreateNetwork",
		       "{\"NetworkID\":\"" NID "\",\"Options\":{\"com.docker.network.enable_ipv6\":"
		       "true,\"com.docker.network.generic\":{\"tenant\":\"alpha\","
		       "\"com.docker.network.driver.mtu\":\"1400\"}},"
		       "\"IPv4Data\":[{\"AddressSpace\":\"tenantkit\",\"Pool\":\"10.200.3.0/24\","
		       "\"Gateway\":\"10.200.3.1/"
		       "24\"}],\"IPv6Data\":[{\"AddressSpace\":\"tenantkit\","
		       "\"Pool\":\"fd7e:0:0:3::/64\",\"Gateway\":\"fd7e:0:0:3::1/64\"}]}",
		       &req),
		0);
	assert_string_equal(req.network_id, NID);
	assert_string_equal(req.tenant, "alpha");
	assert_true(req.ipv6);
	assert_true(req.nat);
	assert_int_equal(req.mtu, 1400);
	assert_string_equal(req.pool4, "10.200.3.0/24");
	assert_string_equal(req.gateway4, "10.200.3.1/24");
	assert_string_equal(req.pool6, "fd7e:0:0:3::/64");
	tk_dnet_request_done(&req);

	/*
	 * --internal: Docker's own key, a JSON bool, where libnetwork puts it (beside enable_ipv6,
	 * not among the -o options; also taken there): an internal network, without NAT.
	 * -o nat=false turns NAT off alone.
	 */
	assert_int_equal(decode("/NetworkDriver.CreateNetwork",
				"{\"NetworkID\":\"" NID
				"\",\"Options\":{\"com.docker.network.internal\":true,"
				"\"com.docker.network.generic\":{\"tenant\":\"a\"}},"
				"\"IPv4Data\":[{\"Pool\":\"10.200.3.0/24\"}],\"IPv6Data\":[]}",
				&req),
			 0);
	assert_true(req.internal);
	assert_false(req.nat);
	assert_false(req.ipv6);
	assert_null(req.pool6);
	tk_dnet_request_done(&req);
	assert_int_equal(decode("/NetworkDriver.CreateNetwork",
				"{\"NetworkID\":\"" NID
				"\",\"Options\":{\"com.docker.network.generic\":"
				"{\"tenant\":\"a\",\"com.docker.network.internal\":true}},"
				"\"IPv4Data\":[{\"Pool\":\"10.200.3.0/24\"}],\"IPv6Data\":[]}",
				&req),
			 0);
	assert_true(req.internal);
	assert_false(req.nat);
	tk_dnet_request_done(&req);
	assert_int_equal(decode("/NetworkDriver.CreateNetwork",
				"{\"NetworkID\":\"" NID
				"\",\"Options\":{\"com.docker.network.generic\":"
				"{\"tenant\":\"a\",\"nat\":\"false\"}},"
				"\"IPv4Data\":[{\"Pool\":\"10.200.3.0/24\"}]}",
				&req),
			 0);
	assert_false(req.nat);
	assert_false(req.internal);
	tk_dnet_request_done(&req);

	/* The bridge driver's masquerade option is nat; its enable_icc=false cannot be honoured. */
	assert_int_equal(decode("/NetworkDriver.CreateNetwork",
				"{\"NetworkID\":\"" NID
				"\",\"Options\":{\"com.docker.network.generic\":{\"tenant\":\"a\","
				"\"com.docker.network.bridge.enable_ip_masquerade\":\"false\"}},"
				"\"IPv4Data\":[{\"Pool\":\"10.200.3.0/24\"}]}",
				&req),
			 0);
	assert_false(req.nat);
	tk_dnet_request_done(&req);
	assert_int_equal(decode("/NetworkDriver.CreateNetwork",
				"{\"NetworkID\":\"" NID
				"\",\"Options\":{\"com.docker.network.generic\":{\"tenant\":\"a\","
				"\"com.docker.network.bridge.enable_icc\":\"false\"}},"
				"\"IPv4Data\":[{\"Pool\":\"10.200.3.0/24\"}]}",
				&req),
			 -EINVAL);
	tk_dnet_request_done(&req);
	assert_int_equal(decode("/NetworkDriver.CreateNetwork",
				"{\"NetworkID\":\"" NID
				"\",\"Options\":{\"com.docker.network.generic\":{\"tenant\":\"a\","
				"\"com.docker.network.bridge.enable_icc\":\"true\"}},"
				"\"IPv4Data\":[{\"Pool\":\"10.200.3.0/24\"}]}",
				&req),
			 0);
	tk_dnet_request_done(&req);

	/* No tenant, a typo, two subnets, no pool at all: refused with a reason. */
	assert_int_equal(decode("/NetworkDriver.CreateNetwork",
				"{\"NetworkID\":\"" NID
				"\",\"IPv4Data\":[{\"Pool\":\"10.0.0.0/24\"}]}",
				&req),
			 -EINVAL);
	assert_non_null(strstr(last_err.msg, "tenant=NAME"));
	assert_int_equal(decode("/NetworkDriver.CreateNetwork",
				"{\"NetworkID\":\"" NID
				"\",\"Options\":{\"com.docker.network.generic\":"
				"{\"tenat\":\"a\"}},\"IPv4Data\":[{\"Pool\":\"10.0.0.0/24\"}]}",
				&req),
			 -EINVAL);
	assert_non_null(strstr(last_err.msg, "tenat"));
	assert_int_equal(decode("/NetworkDriver.CreateNetwork",
				"{\"NetworkID\":\"" NID
				"\",\"Options\":{\"com.docker.network.generic\":"
				"{\"tenant\":\"a\"}},\"IPv4Data\":[{\"Pool\":\"10.0.0.0/24\"},"
				"{\"Pool\":\"10.0.1.0/24\"}]}",
				&req),
			 -EINVAL);
	assert_int_equal(decode("/NetworkDriver.CreateNetwork",
				"{\"NetworkID\":\"" NID
				"\",\"Options\":{\"com.docker.network.generic\":"
				"{\"tenant\":\"a\"}}}",
				&req),
			 -EINVAL);
	assert_int_equal(decode("/NetworkDriver.CreateNetwork",
				"{\"NetworkID\":\"" NID
				"\",\"Options\":{\"com.docker.network.generic\":"
				"{\"tenant\":\"a\",\"com.docker.network.driver.mtu\":\"9x\"}},"
				"\"IPv4Data\":[{\"Pool\":\"10.0.0.0/24\"}]}",
				&req),
			 -EINVAL);
}

static void test_create_endpoint(void **state)
{
	struct tk_dnet_request req;

	(void)state;
	assert_int_equal(
		decode("/NetworkDriver.CreateEndpoint",
		       "{\"NetworkID\":\"" NID "\",\"EndpointID\":\"" EID "\",\"Interface\":"
		       "{\"Address\":\"10.200.3.2/24\",\"AddressIPv6\":\"\",\"MacAddress\":\"\"},"
		       "\"Options\":{\"com.docker.network.endpoint.exposedports\":[]}}",
		       &req),
		0);
	assert_string_equal(req.endpoint_id, EID);
	assert_string_equal(req.address, "10.200.3.2/24");
	assert_null(req.address6); /* Go's "" is absent */
	assert_null(req.mac);
	tk_dnet_request_done(&req);
	assert_int_equal(decode("/NetworkDriver.CreateEndpoint",
				"{\"NetworkID\":\"" NID "\",\"EndpointID\":\"" EID
				"\",\"Interface\":"
				"{\"Address\":\"10.200.3.2/24\",\"AddressIPv6\":\"fd7e::2/64\","
				"\"MacAddress\":\"02:42:0a:c8:03:02\"}}",
				&req),
			 0);
	assert_string_equal(req.address6, "fd7e::2/64");
	assert_string_equal(req.mac, "02:42:0a:c8:03:02");
	tk_dnet_request_done(&req);
	/* Without tenantkit-net's IPAM there is no address. */
	assert_int_equal(decode("/NetworkDriver.CreateEndpoint",
				"{\"NetworkID\":\"" NID "\",\"EndpointID\":\"" EID
				"\",\"Interface\":{}}",
				&req),
			 -EINVAL);
	assert_non_null(strstr(last_err.msg, "--ipam-driver"));
}

#define PORTMAP_REQ(map)                                                                           \
	"{\"NetworkID\":\"" NID "\",\"EndpointID\":\"" EID "\",\"Options\":{"                      \
	"\"com.docker.network.portmap\":" map "}}"

static void test_port_map(void **state)
{
	struct tk_dnet_request req;
	json_t *m;

	(void)state;
	assert_int_equal(
		decode("/NetworkDriver.ProgramExternalConnectivity",
		       PORTMAP_REQ("[{\"Proto\":6,\"IP\":\"\",\"Port\":80,\"HostIP\":\"\","
				   "\"HostPort\":20080,\"HostPortEnd\":20080},"
				   "{\"Proto\":17,\"IP\":\"\",\"Port\":53,\"HostIP\":\"127.0.0.1\","
				   "\"HostPort\":20053,\"HostPortEnd\":0}]"),
		       &req),
		0);
	assert_int_equal(json_array_size(req.port_mappings), 2);
	m = json_array_get(req.port_mappings, 0);
	assert_int_equal(json_integer_value(json_object_get(m, "host_port")), 20080);
	assert_int_equal(json_integer_value(json_object_get(m, "container_port")), 80);
	assert_string_equal(json_string_value(json_object_get(m, "protocol")), "tcp");
	assert_null(json_object_get(m, "host_ip"));
	m = json_array_get(req.port_mappings, 1);
	assert_string_equal(json_string_value(json_object_get(m, "protocol")), "udp");
	assert_string_equal(json_string_value(json_object_get(m, "host_ip")), "127.0.0.1");
	tk_dnet_request_done(&req);

	/* No port map: nothing to program (not an empty list, which would clear). */
	assert_int_equal(decode("/NetworkDriver.ProgramExternalConnectivity",
				"{\"NetworkID\":\"" NID "\",\"EndpointID\":\"" EID
				"\",\"Options\":{}}",
				&req),
			 0);
	assert_null(req.port_mappings);
	tk_dnet_request_done(&req);

	/* -p 80 (Docker picks the host port), SCTP and ranges are refused with the reason. */
	assert_int_equal(decode("/NetworkDriver.ProgramExternalConnectivity",
				PORTMAP_REQ("[{\"Proto\":6,\"Port\":80,\"HostPort\":0}]"), &req),
			 -EINVAL);
	assert_non_null(strstr(last_err.msg, "-p HOSTPORT:80"));
	assert_int_equal(decode("/NetworkDriver.ProgramExternalConnectivity",
				PORTMAP_REQ("[{\"Proto\":132,\"Port\":80,\"HostPort\":1}]"), &req),
			 -EINVAL);
	assert_int_equal(decode("/NetworkDriver.ProgramExternalConnectivity",
				PORTMAP_REQ("[{\"Proto\":6,\"Port\":80,\"HostPort\":20000,"
					    "\"HostPortEnd\":20009}]"),
				&req),
			 -EINVAL);
	assert_int_equal(decode("/NetworkDriver.ProgramExternalConnectivity",
				PORTMAP_REQ("[{\"Proto\":6,\"Port\":70000,\"HostPort\":1}]"), &req),
			 -EINVAL);
}

static void test_ipam(void **state)
{
	struct tk_dnet_request req;

	(void)state;
	assert_int_equal(
		decode("/IpamDriver.RequestPool",
		       "{\"AddressSpace\":\"tenantkit-local\",\"Pool\":\"\",\"SubPool\":\"\","
		       "\"Options\":{\"tenant\":\"alpha\"},\"V6\":false}",
		       &req),
		0);
	assert_null(req.pool);
	assert_false(req.v6);
	assert_string_equal(req.ipam_tenant, "alpha");
	tk_dnet_request_done(&req);
	assert_int_equal(decode("/IpamDriver.RequestPool",
				"{\"Pool\":\"fd00:1::/64\",\"Options\":null,\"V6\":true}", &req),
			 0);
	assert_string_equal(req.pool, "fd00:1::/64");
	assert_true(req.v6);
	assert_null(req.ipam_tenant);
	tk_dnet_request_done(&req);
	assert_int_equal(decode("/IpamDriver.RequestPool",
				"{\"Pool\":\"10.1.0.0/16\",\"SubPool\":\"10.1.2.0/24\"}", &req),
			 -EINVAL);
	assert_non_null(strstr(last_err.msg, "--ip-range"));
	assert_int_equal(
		decode("/IpamDriver.RequestPool", "{\"Options\":{\"tennant\":\"a\"}}", &req),
		-EINVAL);

	assert_int_equal(decode("/IpamDriver.RequestAddress",
				"{\"PoolID\":\"10.200.3.0/24\",\"Address\":\"\",\"Options\":"
				"{\"RequestAddressType\":\"com.docker.network.gateway\"}}",
				&req),
			 0);
	assert_true(req.gateway);
	assert_null(req.req_address);
	tk_dnet_request_done(&req);
	assert_int_equal(decode("/IpamDriver.RequestAddress",
				"{\"PoolID\":\"10.200.3.0/24\",\"Address\":\"10.200.3.9\","
				"\"Options\":{\"com.docker.network.endpoint.macaddress\":\"x\"}}",
				&req),
			 0);
	assert_false(req.gateway);
	assert_string_equal(req.req_address, "10.200.3.9");
	tk_dnet_request_done(&req);
	assert_int_equal(decode("/IpamDriver.RequestAddress", "{\"Address\":\"10.0.0.1\"}", &req),
			 -EINVAL);
	assert_int_equal(
		decode("/IpamDriver.ReleaseAddress", "{\"PoolID\":\"10.200.3.0/24\"}", &req),
		-EINVAL);
}

static void test_names(void **state)
{
	char buf[64];
	tk_err err = {};

	(void)state;
	assert_int_equal(tk_dnet_network_name(NID, buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "docker-0123456789ab");
	assert_int_equal(tk_dnet_endpoint_ifname(EID, buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "tkdfedcba987654");
	assert_int_equal(strlen(buf), 15); /* IFNAMSIZ - 1 */
	assert_int_equal(tk_dnet_endpoint_ifname("xyz", buf, sizeof(buf), &err), -EINVAL);
	assert_int_equal(tk_dnet_network_name(NID, buf, 8, &err), -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_create_network),
		cmocka_unit_test(test_create_endpoint),
		cmocka_unit_test(test_port_map),
		cmocka_unit_test(test_ipam),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
