// CLIENT LIST's lines.
#include "actors/client_registry.hpp"

#include "core/ascii.hpp"

namespace wtcache {

std::string client_line(const client_record& r, std::chrono::steady_clock::time_point now) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  auto age = duration_cast<seconds>(now - r.created).count();
  auto idle = duration_cast<seconds>(now - r.last_command).count();
  auto cmd = r.last_command_name;  // lower case, or NULL as Redis says for none or an unknown one
  if (cmd == "client" && !r.last_subcommand.empty())
    cmd += "|" + lowered(r.last_subcommand);
  return "id=" + std::to_string(r.id) + " addr=" + r.addr + " laddr=" + r.laddr +
         " fd=-1 name=" + r.name + " age=" + std::to_string(age) + " idle=" +
         std::to_string(idle) + " flags=" + (r.in_multi ? "x" : "N") +
         " db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 "
         "rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=" + cmd +
         " user=" + r.user + " redir=-1 resp=2 lib-name=" + r.lib_name + " lib-ver=" + r.lib_ver;
}

}  // namespace wtcache
