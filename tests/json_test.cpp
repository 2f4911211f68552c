// The jsonb validator (core/json.hpp): what jsonb accepts and refuses, and where.
#include <gtest/gtest.h>

#include "core/json.hpp"

using wtcache::json_error;

TEST(JsonValidator, AcceptsValidDocuments) {
  for (const char* ok : {"{}", "[]", "0", "-1.5e10", "\"x\"", "true", "null",
                         R"({"cart":[1,2,{"a":null}],"s":"\u00e9\ud83d\ude00"})", " [ 1 , 2 ] ",
                         "\"caf\xc3\xa9\""})
    EXPECT_EQ(json_error(ok), std::nullopt) << ok;
}

TEST(JsonValidator, NamesTheProblemAndItsPosition) {
  EXPECT_EQ(*json_error("{\"a\":1,}"), "invalid JSON at byte 7: expected a string key");
  EXPECT_EQ(*json_error("{\"a\" 1}"), "invalid JSON at byte 5: expected ':'");
  EXPECT_EQ(*json_error("[1 2]"), "invalid JSON at byte 3: expected ',' or ']'");
}

TEST(JsonValidator, RejectsWhatJsonbRejects) {
  for (const char* bad : {"", "{", "01", "1.", "tru", "[1]x", "'a'", "\"\\u0000\"",
                          "\"\\ud800\"", "\"\t\"", "\"\xff\"", "NaN", "{\"a\":}"})
    EXPECT_NE(json_error(bad), std::nullopt) << bad;
}

TEST(JsonValidator, CapsNestingDepth) {
  std::string deep(10000, '[');
  EXPECT_NE(json_error(deep), std::nullopt);
}

TEST(JsonQuote, EscapesWhatMustBeAndAlwaysGivesValidJson) {
  auto q = [](std::string_view s) {
    std::string out;
    wtcache::json_quote(out, s);
    return out;
  };
  EXPECT_EQ(q("plain"), "\"plain\"");
  EXPECT_EQ(q("a\"b\\c\nd\te\x01"), "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  EXPECT_EQ(q("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82"), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82\"");
  // Bytes that are not UTF-8 (a client's junk in a log line) become U+FFFD.
  EXPECT_EQ(q("got '\xff'"), "\"got '\\ufffd'\"");
  EXPECT_EQ(q("\xc3"), "\"\\ufffd\"");             // cut short
  EXPECT_EQ(q("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
  for (std::string_view s : {"\xff\xfe", "\xc0\xaf", "x\x80y", "\xf4\x90\x80\x80"})
    EXPECT_EQ(wtcache::json_error(q(s)), std::nullopt) << q(s);
}

// From fuzz_json's first finding (its own expectation was wrong): a NUL is
// quoted as \u0000, which is JSON (for a log line) but not jsonb, and the
// validator says so rather than letting PostgreSQL refuse it.
TEST(JsonQuote, ANulIsQuotedAsJsonThatJsonbRefuses) {
  std::string out;
  wtcache::json_quote(out, std::string_view("{\"cart\":[\0\0", 11));
  EXPECT_EQ(out, "\"{\\\"cart\\\":[\\u0000\\u0000\"");
  auto error = wtcache::json_error(out);
  ASSERT_NE(error, std::nullopt);
  EXPECT_NE(error->find("\\u0000 cannot be stored in jsonb"), std::string::npos) << *error;
}
