// Registers the project's message types and errors with CAF.
#include "messages/registration.hpp"

#include <caf/actor_system_config.hpp>

#include "messages/cache_api.hpp"
#include "messages/cache_protocol.hpp"
#include "messages/errors.hpp"
#include "messages/queue_protocol.hpp"
#include "messages/shard_protocol.hpp"
#include "messages/store_protocol.hpp"

namespace wtcache {

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<cache_entry>("cache_entry");
  cfg.add_message_type<std::vector<cache_entry>>("cache_entry_vec");
  cfg.add_message_type<cache_write>("cache_write");
  cfg.add_message_type<std::vector<cache_write>>("cache_write_vec");
  cfg.add_message_type<cache_write_result>("cache_write_result");
  cfg.add_message_type<std::vector<cache_write_result>>("cache_write_result_vec");
  cfg.add_message_type<key_layout>("key_layout");
  cfg.add_message_type<queued_write>("queued_write");
  cfg.add_message_type<std::vector<queued_write>>("queued_write_vec");
  cfg.add_message_type<queued_result>("queued_result");
  cfg.add_message_type<redis_sockets>("redis_sockets");
  cfg.add_message_type<std::vector<queued_result>>("queued_result_vec");
  cfg.add_message_type<store_op>("store_op");
  cfg.add_message_type<std::vector<store_op>>("store_op_vec");
  cfg.add_message_type<store_result>("store_result");
  cfg.add_message_type<std::vector<store_result>>("store_result_vec");
  cfg.add_message_type<store_row>("store_row");
  cfg.add_message_type<invalidation>("invalidation");
  cfg.add_message_type<store_outcome>("store_outcome");
  cfg.add_message_type<dirty_records>("dirty_records");
  cfg.add_message_type<lookup>("lookup");
  cfg.add_message_type<key_write>("key_write");
  cfg.add_message_type<write_request>("write_request");
  cfg.add_message_type<std::vector<int64_t>>("int64_vec");
  cfg.add_message_type<write_answer>("write_answer");
  cfg.add_message_type<scan_request>("scan_request");
  cfg.add_message_type<scan_page>("scan_page");
  cfg.add_message_type<std::vector<write_answer>>("write_answer_vec");
  cfg.add_message_type<stream_report>("stream_report");
  cfg.add_message_type<std::vector<stream_report>>("stream_report_vec");
  cfg.add_message_type<cache_value>("cache_value");
  cfg.add_message_type<std::vector<cache_value>>("cache_value_vec");
  cfg.add_message_type<set_options>("set_options");
  cfg.add_message_type<set_result>("set_result");
  cfg.add_message_type<txn_op>("txn_op");
  cfg.add_message_type<std::vector<txn_op>>("txn_op_vec");
  cfg.add_message_type<txn_result>("txn_result");
  cfg.add_message_type<std::vector<txn_result>>("txn_result_vec");
  add_error_category(cfg);
}

}  // namespace wtcache
