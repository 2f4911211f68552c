// Waits for `cond` (an async function) to hold, up to `ms`; true if it did.
'use strict';
module.exports = async function until(cond, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((ok) => setTimeout(ok, 20));
  }
  return cond();
};
