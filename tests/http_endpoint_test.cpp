// The HTTP endpoint's routing and response framing, without a socket (the
// endpoint over real sockets is tested in service_observability_test.cpp).
#include <gtest/gtest.h>

#include "actors/http_endpoint.hpp"

using namespace wtcache;

TEST(HttpEndpoint, RoutesOnlyItsThreePathsAndOnlyGet) {
  service_metrics m;
  node_health h;
  EXPECT_EQ(route("GET", "/metrics", m, h).status, 200);
  EXPECT_EQ(route("GET", "/healthz", m, h).status, 200);
  EXPECT_EQ(route("GET", "/readyz", m, h).status, 0);  // the endpoint probes the backends
  EXPECT_EQ(route("GET", "/", m, h).status, 404);
  EXPECT_EQ(route("DELETE", "/metrics", m, h).status, 405);
  auto msg = http_message({404, "text/plain", "no\n"});
  EXPECT_EQ(msg, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                 "Cache-Control: no-store\r\nConnection: close\r\n\r\nno\n");
}

TEST(HttpEndpoint, TheHeadEndsAtTheFirstEmptyLineEvenAcrossReads) {
  EXPECT_EQ(http_head_end("GET / HTTP/1.1\r\nHost: x\r\n", 0), std::string::npos);
  EXPECT_EQ(http_head_end("GET / HTTP/1.1\r\n\r\n", 0), 14u);
  EXPECT_EQ(http_head_end("GET / HTTP/1.0\n\n", 0), 14u);
  // The empty line began in the bytes looked at before.
  EXPECT_EQ(http_head_end("GET / HTTP/1.1\r\n\r\n", 16), 14u);
  EXPECT_EQ(http_head_end("GET / HTTP/1.1\r\n\r\n", 17), 14u);
}

TEST(HttpEndpoint, ARequestLineNeedsAMethodATargetAndAnHttpVersion) {
  auto r = parse_request_line("GET /metrics?x=1 HTTP/1.1\r\nHost: a");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->path, "/metrics");
  EXPECT_FALSE(parse_request_line("GET /metrics"));
  EXPECT_FALSE(parse_request_line("GET /metrics FTP/1.0"));
  EXPECT_FALSE(parse_request_line(""));
}
