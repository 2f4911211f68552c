// A step that may ask for itself while it runs (a command that ends at once
// calls for the next one): the call made meanwhile only asks for one more
// round, which the running call takes in a loop, so that a long line of
// such steps costs no stack frame each.
#pragma once

namespace wtcache {

class rerun {
public:
  template <class Step>
  void operator()(Step step) {
    if (running_) {
      again_ = true;
      return;
    }
    running_ = true;
    do {
      again_ = false;
      step();
    } while (again_);
    running_ = false;
  }

private:
  bool running_ = false, again_ = false;
};

}  // namespace wtcache
