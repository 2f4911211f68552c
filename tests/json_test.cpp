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
