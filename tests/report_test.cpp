// The benchmark's HTML report: self-contained (charts inline as SVG, no
// external resources), with every phase charted and tabled.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "bench/report.hpp"

using namespace wtcache::bench;

TEST(BenchReport, IsOneSelfContainedPageWithBothChartsAndTheTable) {
  std::vector<phase_result> rs;
  for (int clients : {1, 16, 64}) {
    rs.push_back({"service SET", clients, 900.0 * clients, 1.1, 4.0, 1000, 0, 300});
    rs.push_back({"redis GET", clients, 30000.0 * clients, 0.03, 0.09, 5000, 0, -1});
  }
  auto path = (std::filesystem::temp_directory_path() / "wtcache-report-test.html").string();
  std::string error;
  ASSERT_TRUE(write_html_report(rs, {"a <test> run", "machine: 2 cores", {"target & note"}}, path,
                                error))
    << error;
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto page = ss.str();
  std::filesystem::remove(path);
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (auto at = page.find(what); at != std::string::npos; at = page.find(what, at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(page.rfind("<!doctype html>", 0), 0u);
  EXPECT_EQ(count("<svg"), 2u);
  EXPECT_EQ(count("<tr><td>"), rs.size());
  EXPECT_NE(page.find("a &lt;test&gt; run"), std::string::npos);  // escaped
  EXPECT_NE(page.find("target &amp; note"), std::string::npos);
  EXPECT_NE(page.find("service SET p99"), std::string::npos);     // in the latency chart's key
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);         // nothing fetched from elsewhere
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
}
