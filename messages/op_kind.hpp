// What a write does to its key; shared by the store and cache protocols.
#pragma once

#include <cstdint>

namespace wtcache {

enum class op_kind : uint8_t {
  set,         // the value (SET and its relatives)
  del,         // DEL, UNLINK, GETDEL
  incr,        // INCR family: `delta`
  incr_float,  // INCRBYFLOAT: the increment as the client wrote it, in `value`
  append,      // APPEND `value`
  setrange,    // SETRANGE at offset `delta`
  expire,      // EXPIRE family, GETEX with an option: the expiry below
  persist,     // PERSIST, GETEX PERSIST
  read,        // inside EXEC: the value and its expiry, as the transaction sees them
  watch,       // inside EXEC: the row must still be at version `delta` (0: absent)
};

// Conditions and extras of a write (a bit set).
namespace op_flag {
constexpr uint8_t nx = 1;        // only if the key is absent (SET NX, SETNX, EXPIRE NX: no TTL)
constexpr uint8_t xx = 2;        // only if present (SET XX; EXPIRE XX: has a TTL)
constexpr uint8_t gt = 4;        // EXPIRE GT: only to a later expiry
constexpr uint8_t lt = 8;        // EXPIRE LT: only to an earlier one
constexpr uint8_t get = 16;      // answer the value the key held (SET GET, GETSET, GETDEL, GETEX)
constexpr uint8_t together = 32; // MSETNX: every key of the command absent, or none is set
constexpr uint8_t expired = 64;  // the reaper's DEL: only a row whose expiry has passed
}  // namespace op_flag

// What a write does to the key's expiry.
enum class expiry_change : int8_t {
  clear,   // no expiry afterwards (a plain SET)
  keep,    // as it was (INCR, APPEND, SETRANGE, SET KEEPTTL)
  in,      // `expiry_ms` from now (EX, PX, EXPIRE, PEXPIRE)
  at,      // at `expiry_ms`, Unix time in milliseconds (EXAT, PXAT, EXPIREAT)
};

}  // namespace wtcache
